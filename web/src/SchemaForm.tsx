import { useRef, useState } from "react";
import type { NodeTypeInfo, Problem } from "./api";
import { TemplateInput } from "./TemplateInput";
import { withoutNode } from "./ui";

// A form generated from a node type's config JSON Schema (GET /node_types): strings,
// numbers, booleans, enums, lists of objects (buttons, conditions); anything else is
// edited as JSON. Unset optional fields are left out of the config, as Kapso does.

type Schema = Record<string, any>;
const LONG_TEXT = new Set(["message", "body_text", "system_prompt", "expression", "description"]);
// Fields rendered with {{...}} templating at run time: they get the variable inserter.
const TEMPLATED = new Set(["message", "body_text", "header_text", "footer_text", "url", "variable_value", "reason", "system_prompt"]);

// Inserts `{{vars.x}}` at the caret of the field next to it.
function VarInsert({ target, variables, onInsert }: { target: React.RefObject<HTMLInputElement | HTMLTextAreaElement | null>; variables: string[]; onInsert: (v: string) => void }) {
  return (
    <select aria-label="Insert a variable" className="var-insert" value="" onChange={(e) => {
      const field = target.current;
      const token = `{{vars.${e.target.value}}}`;
      const text = field?.value ?? "";
      const at = field?.selectionStart ?? text.length;
      const end = field?.selectionEnd ?? at;
      onInsert(text.slice(0, at) + token + text.slice(end));
    }}>
      <option value="">Insert {"{{vars.…}}"}</option>
      {variables.map((v) => <option key={v} value={v}>vars.{v}</option>)}
    </select>
  );
}

function resolve(schema: Schema, root: Schema): Schema {
  if (schema?.$ref) return resolve(root.$defs?.[schema.$ref.split("/").pop()] ?? {}, root);
  const options: Schema[] | undefined = schema?.anyOf;
  if (options) {
    const real = options.filter((o) => o.type !== "null").map((o) => resolve(o, root));
    // "string or an AI field object": edit the string.
    const text = real.find((o) => o.type === "string");
    return { ...(text ?? real[0] ?? {}), title: schema.title, default: schema.default, description: schema.description };
  }
  return schema ?? {};
}

function fieldErrors(problems: Problem[], path: string): string[] {
  return problems.filter((p) => p.field === path || p.field?.startsWith(`${path}[`) || p.field?.startsWith(`${path}.`)).map((p) => `${p.field === path ? "" : p.field!.slice(path.length) + ": "}${withoutNode(p.message)}`);
}

function JsonField({ id, value, onChange }: { id: string; value: unknown; onChange: (v: unknown) => void }) {
  const [text, setText] = useState(value === undefined ? "" : JSON.stringify(value, null, 2));
  const [bad, setBad] = useState<string | null>(null);
  return (
    <>
      <textarea id={id} rows={4} value={text} onChange={(e) => setText(e.target.value)} onBlur={() => {
        if (!text.trim()) { setBad(null); onChange(undefined); return; }
        try { onChange(JSON.parse(text)); setBad(null); } catch (exc) { setBad(`not JSON: ${(exc as Error).message}`); }
      }} />
      {bad && <span className="field-error">{bad}</span>}
    </>
  );
}

type FieldProps = { id: string; name: string; schema: Schema; root: Schema; value: any; onChange: (v: any) => void; errors: string[]; variables?: string[] };

function Field({ id, name, schema, root, value, onChange, errors, variables = [] }: FieldProps) {
  const resolved = resolve(schema, root);
  const textRef = useRef<HTMLInputElement & HTMLTextAreaElement>(null);
  const label = resolved.title ?? schema.title ?? name;
  let input: React.ReactNode;
  if (resolved.enum) {
    input = (
      <select id={id} value={value ?? resolved.default ?? ""} onChange={(e) => onChange(e.target.value || undefined)}>
        {resolved.default == null && <option value="">—</option>}
        {resolved.enum.map((option: string) => <option key={option} value={option}>{option}</option>)}
      </select>
    );
  } else if (resolved.type === "boolean") {
    input = <input id={id} type="checkbox" checked={Boolean(value ?? resolved.default)} onChange={(e) => onChange(e.target.checked)} />;
  } else if (resolved.type === "integer" || resolved.type === "number") {
    input = (
      <input id={id} type="number" value={value ?? ""} placeholder={resolved.default != null ? String(resolved.default) : ""}
        onChange={(e) => onChange(e.target.value === "" ? undefined : Number(e.target.value))} />
    );
  } else if (resolved.type === "string") {
    const text = typeof value === "string" ? value : value == null ? "" : JSON.stringify(value);
    const props = { id, ref: textRef, value: text, onChange: (e: any) => onChange(e.target.value) };
    input = LONG_TEXT.has(name) ? <textarea rows={3} {...props} /> : <input type="text" {...props} />;
    if (TEMPLATED.has(name)) {
      // Typing `{{` suggests the variables; the menu beside it does the same with a click.
      input = <TemplateInput id={id} ref={textRef} value={text} onChange={onChange} variables={variables} multiline={LONG_TEXT.has(name)} />;
      if (variables.length > 0) input = <>{input}<VarInsert target={textRef} variables={variables} onInsert={onChange} /></>;
    }
  } else if (resolved.type === "array" && resolve(resolved.items ?? {}, root).properties) {
    return <ListField {...{ id, name, schema: resolved, root, value, onChange, errors, label }} />;
  } else {
    input = <JsonField id={id} value={value} onChange={onChange} />;
  }
  return (
    <div className={`field ${errors.length ? "has-error" : ""}`}>
      <label htmlFor={id}>{label}</label>
      {input}
      {errors.map((e, i) => <span className="field-error" key={i}>{e}</span>)}
    </div>
  );
}

// "MCP servers" → "MCP server", "Buttons" → "button": an acronym keeps its capitals.
function singular(label: string): string {
  return label.replace(/s$/, "").split(" ").map((w) => (w.length > 1 && w === w.toUpperCase() ? w : w.toLowerCase())).join(" ");
}

function ListField({ id, schema, root, value, onChange, errors, label }: FieldProps & { label: string }) {
  const items: any[] = Array.isArray(value) ? value : [];
  const item = resolve(schema.items, root);
  const shown = Object.entries(item.properties as Schema).filter(([key]) => key !== "id" || item.required?.includes("id"));
  const set = (index: number, key: string, v: any) => {
    const next = items.map((it, i) => (i === index ? { ...it, [key]: v === "" ? undefined : v } : it));
    onChange(next);
  };
  return (
    <fieldset className={`field list ${errors.length ? "has-error" : ""}`}>
      <legend>{label}</legend>
      {items.map((it, index) => (
        <div className="list-item" key={index}>
          {shown.map(([key, sub]) => (
            <Field key={key} id={`${id}-${index}-${key}`} name={key} schema={sub} root={root} value={it?.[key]} onChange={(v) => set(index, key, v)} errors={[]} />
          ))}
          <button type="button" onClick={() => onChange(items.filter((_, i) => i !== index))}>Remove</button>
        </div>
      ))}
      <button type="button" onClick={() => onChange([...items, {}])}>Add {singular(label)}</button>
      {errors.map((e, i) => <span className="field-error" key={i}>{e}</span>)}
    </fieldset>
  );
}

export function ConfigForm({ info, config, problems, onChange, variables }: { info: NodeTypeInfo; config: Record<string, any>; problems: Problem[]; onChange: (c: Record<string, any>) => void; variables: string[] }) {
  const root = info.config_schema;
  const properties: [string, Schema][] = Object.entries(root.properties ?? {});
  const key = new Set(info.key_fields);
  const advanced = new Set(info.advanced_fields);
  const ordered = [...properties.filter(([n]) => key.has(n)), ...properties.filter(([n]) => !key.has(n) && !advanced.has(n))];
  const set = (name: string, value: unknown) => {
    const next = { ...config };
    if (value === undefined) delete next[name];
    else next[name] = value;
    onChange(next);
  };
  const render = ([name, schema]: [string, Schema]) => (
    <Field key={name} id={`cfg-${name}`} name={name} schema={schema} root={root} value={config[name]} onChange={(v) => set(name, v)} errors={fieldErrors(problems, `config.${name}`)} variables={variables} />
  );
  return (
    <div className="config-form">
      {ordered.map(render)}
      {advanced.size > 0 && (
        <details>
          <summary>Sender and AI options</summary>
          {properties.filter(([n]) => advanced.has(n)).map(render)}
        </details>
      )}
    </div>
  );
}
