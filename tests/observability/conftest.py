"""The end-to-end WhatsApp world (fake Graph, app over loopback HTTP, FakeClock) and the
recording receiver, shared with tests/whatsapp_e2e."""

from tests.whatsapp.conftest import receiver  # noqa: F401  (fixture)
from tests.whatsapp_e2e.conftest import fake, settings, world  # noqa: F401  (fixtures)
