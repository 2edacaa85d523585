"""Table definitions (SQLAlchemy Core). The Alembic migrations create exactly these.

Conventions: ids are UUIDv7 strings (time-ordered, so keyset pagination on
`(created_at, id)` is cheap); timestamps are timezone-aware UTC written from the
injectable clock, never SQL `now()`; JSON columns are JSONB on PostgreSQL and TEXT on
SQLite, and no query looks inside them, so both databases behave alike.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from convoflow.store.types import EncryptedJSON, EncryptedText, UTCDateTime

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
ID = sa.String(36)


def _ts(name: str, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, UTCDateTime(), nullable=nullable)


projects = sa.Table(
    "projects",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("name", sa.String(200), nullable=False, unique=True),
    # allow_private_network, allow_process_env_secrets, max_steps_without_wait, ...
    sa.Column("settings", JSON, nullable=False, default=dict),
    _ts("created_at"),
    _ts("updated_at"),
)

api_keys = sa.Table(
    "api_keys",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("project_id", ID, sa.ForeignKey("projects.id"), nullable=False, index=True),
    sa.Column("name", sa.String(200), nullable=True),
    # SHA-256 hex of the key; the key itself is shown once and never stored.
    sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("prefix", sa.String(16), nullable=False),
    _ts("created_at"),
    _ts("last_used_at", nullable=True),
    _ts("revoked_at", nullable=True),
)

secrets = sa.Table(
    "secrets",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("project_id", ID, sa.ForeignKey("projects.id"), nullable=False),
    # "project" for `${ENV:NAME}` secrets, or a function id for function secrets.
    sa.Column("scope", sa.String(64), nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("value", EncryptedText, nullable=False),
    sa.Column("value_type", sa.String(16), nullable=False, default="text"),
    _ts("created_at"),
    _ts("updated_at"),
    sa.UniqueConstraint("project_id", "scope", "name"),
)

workflows = sa.Table(
    "workflows",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("project_id", ID, sa.ForeignKey("projects.id"), nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("slug", sa.String(200), nullable=False),
    sa.Column("description", sa.Text, nullable=True),
    sa.Column("status", sa.String(16), nullable=False),  # draft | active | archived
    sa.Column("lock_version", sa.Integer, nullable=False, default=0),
    sa.Column("message_debounce_seconds", sa.Integer, nullable=True),
    sa.Column("inbound_message_read_mode", sa.String(32), nullable=True),
    sa.Column("agent_default_tools_version", sa.Integer, nullable=True),
    sa.Column("current_version_id", ID, nullable=True),
    sa.Column("created_by", JSON, nullable=True),
    _ts("created_at"),
    _ts("updated_at"),
    # Deleted (DELETE /workflows/{id}): hidden from every project-scoped read, its rows
    # kept for the executions and messages that refer to it.
    _ts("deleted_at", nullable=True),
    sa.UniqueConstraint("project_id", "name"),
    sa.UniqueConstraint("project_id", "slug"),
    sa.Index("ix_workflows_project_created", "project_id", "created_at", "id"),
)

# How many executions each workflow has started and when the last began, spread over
# EXECUTION_COUNT_SHARDS rows per workflow: every start adds 1 to one row inside its
# own transaction, and on PostgreSQL a single counter row (it was workflows.
# execution_count) made every start of a workflow wait for the previous one's commit.
# Reads sum the rows (store/workflows.WORKFLOW_COLUMNS).
workflow_execution_counts = sa.Table(
    "workflow_execution_counts",
    metadata,
    sa.Column("workflow_id", ID, sa.ForeignKey("workflows.id"), primary_key=True),
    sa.Column("shard", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("count", sa.BigInteger, nullable=False),
    _ts("last_executed_at"),
)

# Immutable: a definition change adds a row; executions pin the row they started with.
workflow_versions = sa.Table(
    "workflow_versions",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("workflow_id", ID, sa.ForeignKey("workflows.id"), nullable=False),
    sa.Column("number", sa.Integer, nullable=False),
    sa.Column("definition", JSON, nullable=False),
    _ts("created_at"),
    sa.UniqueConstraint("workflow_id", "number"),
)

# A workflow's conversation test suite (docs/testing-flows.md), the YAML text as the
# person wrote it (comments and order kept): the console edits and runs it.
workflow_test_suites = sa.Table(
    "workflow_test_suites",
    metadata,
    sa.Column("workflow_id", ID, sa.ForeignKey("workflows.id"), primary_key=True),
    sa.Column("project_id", ID, sa.ForeignKey("projects.id"), nullable=False),
    sa.Column("yaml", sa.Text, nullable=False),
    _ts("created_at"),
    _ts("updated_at"),
)

triggers = sa.Table(
    "triggers",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("project_id", ID, sa.ForeignKey("projects.id"), nullable=False),
    sa.Column("workflow_id", ID, sa.ForeignKey("workflows.id"), nullable=False, index=True),
    sa.Column("trigger_type", sa.String(32), nullable=False),
    sa.Column("active", sa.Boolean, nullable=False, default=True),
    sa.Column("phone_number_id", sa.String(64), nullable=True),
    sa.Column("event", sa.String(64), nullable=True),
    sa.Column("event_name", sa.String(128), nullable=True),
    sa.Column("property_key", sa.String(64), nullable=True),
    sa.Column("operator", sa.String(8), nullable=True),
    sa.Column("property_value", JSON, nullable=True),
    sa.Column("display_name", sa.String(200), nullable=True),
    _ts("created_at"),
    _ts("updated_at"),
    sa.Index("ix_triggers_lookup", "project_id", "trigger_type", "active"),
)

conversations = sa.Table(
    "conversations",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("project_id", ID, sa.ForeignKey("projects.id"), nullable=False),
    sa.Column("channel", sa.String(16), nullable=False),  # whatsapp | sandbox | api
    sa.Column("phone_number_id", sa.String(64), nullable=True),
    # The user's address on the channel (WhatsApp wa_id); the routing key with the number.
    sa.Column("wa_id", sa.String(64), nullable=True),
    sa.Column("phone_number", sa.String(32), nullable=True),
    sa.Column("status", sa.String(16), nullable=False, default="active"),
    sa.Column("contact_name", sa.String(200), nullable=True),
    sa.Column("metadata", JSON, nullable=False, default=dict),
    sa.Column("messages_count", sa.Integer, nullable=False, default=0),
    sa.Column("last_message_id", ID, nullable=True),
    _ts("last_active_at", nullable=True),
    _ts("last_inbound_at", nullable=True),
    _ts("last_outbound_at", nullable=True),
    _ts("created_at"),
    _ts("updated_at"),
    sa.Index("ix_conversations_route", "phone_number_id", "wa_id", "status"),
    sa.Index("ix_conversations_project_created", "project_id", "created_at", "id"),
)

executions = sa.Table(
    "executions",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("project_id", ID, sa.ForeignKey("projects.id"), nullable=False),
    sa.Column("workflow_id", ID, sa.ForeignKey("workflows.id"), nullable=False),
    sa.Column("version_id", ID, sa.ForeignKey("workflow_versions.id"), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("waiting_reason", sa.String(32), nullable=True),
    sa.Column("current_node_id", sa.String(200), nullable=True),
    # Where inside the current node the execution stands (entering, awaiting input,
    # awaiting an action result, awaiting a child, ...), see engine.cursor.
    sa.Column("cursor", JSON, nullable=False, default=dict),
    sa.Column("context", JSON, nullable=False, default=dict),  # {vars, system, context, metadata}
    # Compare-and-set counter: every advance bumps it; timers carry the value they expect.
    sa.Column("version", sa.Integer, nullable=False, default=0),
    sa.Column("event_seq", sa.Integer, nullable=False, default=0),
    sa.Column("steps_since_wait", sa.Integer, nullable=False, default=0),
    sa.Column("tracking_id", ID, nullable=False),
    sa.Column("trigger_type", sa.String(32), nullable=False),
    sa.Column("observer", sa.Boolean, nullable=False, default=False),
    sa.Column("conversation_id", ID, sa.ForeignKey("conversations.id"), nullable=True),
    sa.Column("parent_execution_id", ID, nullable=True),
    sa.Column("depth", sa.Integer, nullable=False, default=0),
    sa.Column("error_details", JSON, nullable=True),
    _ts("started_at"),
    _ts("ended_at", nullable=True),
    _ts("last_event_at", nullable=True),
    _ts("created_at"),
    _ts("updated_at"),
    sa.Index("ix_executions_workflow_created", "workflow_id", "created_at", "id"),
    sa.Index("ix_executions_workflow_status", "workflow_id", "status", "created_at", "id"),
    sa.Index("ix_executions_conversation", "conversation_id", "status"),
    sa.Index("ix_executions_parent", "parent_execution_id"),
    sa.Index("ix_executions_tracking", "tracking_id"),
)

execution_events = sa.Table(
    "execution_events",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("execution_id", ID, sa.ForeignKey("executions.id"), nullable=False),
    # Gap-free per execution: allocated from executions.event_seq in the advancing
    # transaction, so a rolled-back advance leaves no hole.
    sa.Column("seq", sa.Integer, nullable=False),
    sa.Column("event_type", sa.String(64), nullable=False),
    sa.Column("node_id", sa.String(200), nullable=True),
    sa.Column("direction", sa.String(16), nullable=True),
    sa.Column("edge_label", sa.String(200), nullable=True),
    sa.Column("payload", JSON, nullable=False, default=dict),
    _ts("created_at"),
    sa.UniqueConstraint("execution_id", "seq"),
)

messages = sa.Table(
    "messages",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("project_id", ID, sa.ForeignKey("projects.id"), nullable=False),
    sa.Column("conversation_id", ID, sa.ForeignKey("conversations.id"), nullable=False),
    sa.Column("direction", sa.String(16), nullable=False),  # inbound | outbound
    # Provider message id (WhatsApp wamid); unique per project so a redelivered webhook
    # is a no-op, and per project only: a message another tenant stores under the same id
    # never makes this project's message a "redelivery" that is skipped.
    sa.Column("provider_message_id", sa.String(200), nullable=True),
    sa.Column("message_type", sa.String(32), nullable=False),
    sa.Column("content", JSON, nullable=False, default=dict),  # normalised message
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("error", JSON, nullable=True),
    sa.Column("execution_id", ID, nullable=True),
    sa.Column("outbox_id", ID, nullable=True),
    # Inbound only: pending until routed (resume/start) or kept for a human (handoff).
    sa.Column("routing", sa.String(16), nullable=True),
    _ts("provider_timestamp", nullable=True),
    _ts("created_at"),
    _ts("updated_at"),
    sa.Index("ix_messages_conversation", "conversation_id", "created_at", "id"),
    sa.Index("ix_messages_routing", "conversation_id", "routing"),
    sa.Index("ix_messages_project_created", "project_id", "created_at", "id"),
    sa.UniqueConstraint("project_id", "provider_message_id"),
)

functions = sa.Table(
    "functions",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("project_id", ID, sa.ForeignKey("projects.id"), nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("slug", sa.String(200), nullable=False),
    sa.Column("description", sa.Text, nullable=True),
    sa.Column("function_type", sa.String(32), nullable=False),  # http | ...
    sa.Column("code", sa.Text, nullable=True),
    sa.Column("endpoint_url", sa.Text, nullable=True),
    sa.Column("status", sa.String(16), nullable=False, default="draft"),
    sa.Column("version", sa.Integer, nullable=False, default=1),
    sa.Column("lock_version", sa.Integer, nullable=False, default=0),
    sa.Column("invoke_response_mode", sa.String(16), nullable=False, default="passthrough"),
    sa.Column("public_endpoint", sa.Boolean, nullable=False, default=False),
    sa.Column("runtime_config", JSON, nullable=False, default=dict),
    sa.Column("created_by_id", ID, nullable=True),
    _ts("last_deployed_at", nullable=True),
    _ts("created_at"),
    _ts("updated_at"),
    sa.UniqueConstraint("project_id", "slug"),
)

# A model a project's AI nodes may call (decide `ai`, AI fields): nodes name it by id or
# by `name` (unique in the project). The API key is write-only and encrypted at rest.
provider_models = sa.Table(
    "provider_models",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("project_id", ID, sa.ForeignKey("projects.id"), nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("provider", sa.String(32), nullable=False),  # openai | anthropic
    sa.Column("model", sa.String(200), nullable=False),  # the provider's model id
    sa.Column("base_url", sa.Text, nullable=False),
    sa.Column("api_key", EncryptedText, nullable=True),
    sa.Column("settings", JSON, nullable=False, default=dict),  # timeout_seconds
    _ts("created_at"),
    _ts("updated_at"),
    sa.UniqueConstraint("project_id", "name"),
)

function_invocations = sa.Table(
    "function_invocations",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("function_id", ID, sa.ForeignKey("functions.id"), nullable=False),
    sa.Column("execution_id", ID, nullable=True),
    sa.Column("status", sa.String(16), nullable=False),  # success | failed
    sa.Column("status_code", sa.Integer, nullable=True),
    sa.Column("duration_ms", sa.Integer, nullable=True),
    sa.Column("request_body", JSON, nullable=True),
    sa.Column("response_body", JSON, nullable=True),
    sa.Column("error_message", sa.Text, nullable=True),
    # A JavaScript function's console output: [{level, message, logged_at, stack}].
    sa.Column("console_logs", JSON, nullable=True),
    _ts("created_at"),
    sa.Index("ix_function_invocations_function", "function_id", "created_at"),
)

# A JavaScript function's `env.KV`: its own key-value store (values are text, as in
# Cloudflare's KV; the function JSON-encodes what it needs).
function_kv = sa.Table(
    "function_kv",
    metadata,
    sa.Column("function_id", ID, sa.ForeignKey("functions.id"), primary_key=True),
    sa.Column("key", sa.String(512), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
    _ts("updated_at"),
)

# Timers and deferred work. A job is claimed by setting a lease; a crashed worker's job
# is claimable again once `locked_until` passes. `expected_version` makes late timers
# harmless: the job is a no-op when the execution has moved on.
jobs = sa.Table(
    "jobs",
    metadata,
    sa.Column(
        "id",
        sa.BigInteger().with_variant(sa.Integer, "sqlite"),
        primary_key=True,
        autoincrement=True,
    ),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("execution_id", ID, nullable=True),
    # At most one pending job per key (e.g. one timeout per wait, one action per step).
    sa.Column("dedupe_key", sa.String(200), nullable=True, unique=True),
    _ts("run_at"),
    sa.Column("expected_version", sa.Integer, nullable=True),
    sa.Column("payload", JSON, nullable=False, default=dict),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("locked_by", sa.String(64), nullable=True),
    _ts("locked_until", nullable=True),
    sa.Column("last_error", sa.Text, nullable=True),
    _ts("created_at"),
    sa.Index("ix_jobs_due", "run_at"),
    sa.Index("ix_jobs_execution", "execution_id"),
)

# Outbound messages, written in the advancing transaction and sent afterwards by the
# dispatcher. The idempotency key is deterministic (execution id + event seq), so a
# repeated advance could never add a second row for the same step.
outbox = sa.Table(
    "outbox",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("project_id", ID, sa.ForeignKey("projects.id"), nullable=False),
    sa.Column("execution_id", ID, nullable=True),
    sa.Column("conversation_id", ID, nullable=True),
    sa.Column("channel", sa.String(16), nullable=False),
    sa.Column("idempotency_key", sa.String(200), nullable=False, unique=True),
    sa.Column("message", JSON, nullable=False),  # channel-neutral OutboundMessage
    # pending -> sending (journaled before the call) -> sent | failed; a `sending` row
    # whose dispatcher died -> uncertain (held for a status webhook) -> sent | sending
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    _ts("next_attempt_at"),
    _ts("locked_until", nullable=True),
    sa.Column("provider_message_id", sa.String(200), nullable=True),
    sa.Column("error", JSON, nullable=True),
    _ts("created_at"),
    _ts("sent_at", nullable=True),
    # Set when a lost attempt is found; cleared by the next recorded result.
    _ts("uncertain_since", nullable=True),
    sa.Index("ix_outbox_due", "status", "next_attempt_at"),
    sa.Index("ix_outbox_conversation", "conversation_id", "status", "created_at", "id"),
    sa.Index("ix_outbox_execution", "execution_id"),
)

# Journal of external calls made by steps (webhook, function): the request is written
# before the call, the outcome after, both under the same idempotency key.
action_journal = sa.Table(
    "action_journal",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("execution_id", ID, nullable=False, index=True),
    sa.Column("idempotency_key", sa.String(200), nullable=False, unique=True),
    sa.Column("node_id", sa.String(200), nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("request", JSON, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # pending | done
    sa.Column("result", JSON, nullable=True),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    _ts("created_at"),
    _ts("completed_at", nullable=True),
)

project_events = sa.Table(
    "project_events",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("project_id", ID, sa.ForeignKey("projects.id"), nullable=False),
    sa.Column("name", sa.String(128), nullable=False),
    sa.Column("properties", JSON, nullable=False, default=dict),
    _ts("occurred_at"),
    sa.Column("conversation_id", ID, nullable=True),
    sa.Column("source_execution_id", ID, nullable=True),
    _ts("created_at"),
    sa.Index("ix_project_events_project", "project_id", "created_at", "id"),
)

# HTTP API: the first successful response to a POST sent with an `Idempotency-Key` header,
# replayed for a repeat of the same (project, key, route) within 24 hours. Written in the
# same transaction as the effect it records, so a repeat can never run the effect twice.
idempotency_keys = sa.Table(
    "idempotency_keys",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("project_id", ID, sa.ForeignKey("projects.id"), nullable=False),
    sa.Column("key", sa.String(255), nullable=False),
    sa.Column("route", sa.String(300), nullable=False),
    # The use-case's result as JSON text (services/executions/idempotency.py); the API
    # renders a replay from it. Text keeps the key order JSONB would not.
    sa.Column("result", sa.Text, nullable=False),
    _ts("created_at"),
    sa.UniqueConstraint("project_id", "key", "route"),
)

# --- WhatsApp (issue 4) -----------------------------------------------------------------

# A WhatsApp number (Kapso's "WhatsApp config"). `phone_number_id` is Meta's id, unique
# across projects: an inbound webhook names only the number, and the number names the
# project. The secrets are write-only: no API view or CLI output includes them.
phone_numbers = sa.Table(
    "phone_numbers",
    metadata,
    sa.Column("id", ID, primary_key=True),  # Kapso's `internal_id`
    sa.Column("project_id", ID, sa.ForeignKey("projects.id"), nullable=False),
    sa.Column("phone_number_id", sa.String(64), nullable=False, unique=True),
    sa.Column("name", sa.String(200), nullable=True),
    sa.Column("display_phone_number", sa.String(32), nullable=True),
    sa.Column("business_account_id", sa.String(64), nullable=True),
    sa.Column("access_token", EncryptedText, nullable=False),
    sa.Column("app_secret", EncryptedText, nullable=True),
    sa.Column("verify_token", EncryptedText, nullable=True),
    sa.Column("inbound_processing_enabled", sa.Boolean, nullable=False, default=True),
    # What the Graph API said about the number when it was connected.
    sa.Column("verified_name", sa.String(200), nullable=True),
    sa.Column("quality_rating", sa.String(32), nullable=True),
    _ts("webhook_verified_at", nullable=True),
    _ts("created_at"),
    _ts("updated_at"),
    sa.Index("ix_phone_numbers_project_created", "project_id", "created_at", "id"),
)

# Every signed Meta webhook body, byte for byte, written in the transaction that applies
# it: the audit trail, and what a replay would start from.
whatsapp_webhook_receipts = sa.Table(
    "whatsapp_webhook_receipts",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("phone_number_id", sa.String(64), nullable=True),  # the first one named
    sa.Column("body", sa.LargeBinary, nullable=False),
    sa.Column("messages_count", sa.Integer, nullable=False, default=0),
    sa.Column("statuses_count", sa.Integer, nullable=False, default=0),
    _ts("received_at"),
)

# Delivery receipts (sent/delivered/read/failed) per outbound wamid. Unique per
# (project, wamid, status): Meta's redelivery of a receipt is a no-op, and a receipt some
# other project's number reports for the same wamid (a tenant forging its own signed
# webhook) is a row of that project, which neither blocks nor is applied to this one's.
# Kept even when the message row is not written yet (a receipt can overtake the
# dispatcher's record of the send).
message_statuses = sa.Table(
    "message_statuses",
    metadata,
    sa.Column("id", ID, primary_key=True),
    # The project of the number that reported it (phone numbers belong to one project).
    sa.Column("project_id", ID, sa.ForeignKey("projects.id"), nullable=False),
    sa.Column("provider_message_id", sa.String(200), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("phone_number_id", sa.String(64), nullable=True),
    sa.Column("recipient_id", sa.String(64), nullable=True),
    sa.Column("errors", JSON, nullable=True),
    sa.Column("payload", JSON, nullable=False, default=dict),  # the status as Meta sent it
    _ts("provider_timestamp", nullable=True),
    _ts("created_at"),
    sa.UniqueConstraint("project_id", "provider_message_id", "status"),
)

# Project webhooks (outbound from convoflow), Kapso's `whatsapp_webhook` resource.
whatsapp_webhooks = sa.Table(
    "whatsapp_webhooks",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("project_id", ID, sa.ForeignKey("projects.id"), nullable=False),
    sa.Column("phone_number_id", sa.String(64), nullable=True),
    sa.Column("url", sa.Text, nullable=False),
    sa.Column("kind", sa.String(16), nullable=False, default="kapso"),
    sa.Column("events", JSON, nullable=False, default=list),
    sa.Column("active", sa.Boolean, nullable=False, default=True),
    sa.Column("secret_key", EncryptedText, nullable=True),
    sa.Column("headers", EncryptedJSON, nullable=True),  # custom headers, often credentials
    sa.Column("payload_version", sa.String(8), nullable=True),
    sa.Column("settings", JSON, nullable=False, default=dict),  # buffer_*, inactivity_minutes
    _ts("created_at"),
    _ts("updated_at"),
    sa.Index("ix_whatsapp_webhooks_project_created", "project_id", "created_at", "id"),
)

# One row per (webhook, event): created in the transaction of the event, sent by a
# durable job (retries at 10 s, 40 s, 90 s), readable through GET /webhook_deliveries.
webhook_deliveries = sa.Table(
    "webhook_deliveries",
    metadata,
    sa.Column("id", ID, primary_key=True),  # also the X-Idempotency-Key
    sa.Column("project_id", ID, sa.ForeignKey("projects.id"), nullable=False),
    sa.Column("webhook_id", ID, nullable=True),
    sa.Column("webhook_url", sa.Text, nullable=False),
    sa.Column("event", sa.String(64), nullable=False),
    sa.Column("payload", JSON, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # pending | delivered | failed
    sa.Column("attempt_count", sa.Integer, nullable=False, default=0),
    sa.Column("response_status", sa.Integer, nullable=True),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Column("phone_number_id", sa.String(64), nullable=True),
    sa.Column("conversation_phone_number", sa.String(32), nullable=True),
    _ts("last_attempt_at", nullable=True),
    _ts("delivered_at", nullable=True),
    _ts("failed_at", nullable=True),
    _ts("created_at"),
    sa.Index("ix_webhook_deliveries_project_created", "project_id", "created_at", "id"),
)
