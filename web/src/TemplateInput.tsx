import { forwardRef, useId, useImperativeHandle, useLayoutEffect, useRef, useState } from "react";

// A text field rendered with {{...}} templating: typing `{{` opens a list of the variables
// the graph writes (`vars.x`), narrowed as the person types. Keyboard: ↓/↑ choose, Enter
// or Tab insert, Escape closes (the ARIA combobox pattern: focus stays in the field).

type Props = {
  id: string; value: string; onChange: (value: string) => void; variables: string[]; multiline: boolean;
};
type Open = { start: number; options: string[] };

// The `{{` before the caret not closed yet, and what was typed after it.
export function openTemplate(text: string, caret: number): { start: number; typed: string } | null {
  const before = text.slice(0, caret);
  const start = before.lastIndexOf("{{");
  if (start < 0 || before.indexOf("}}", start) >= 0) return null;
  const typed = before.slice(start + 2).trimStart();
  return /^[\w.]*$/.test(typed) ? { start, typed } : null;
}

export function suggestions(variables: string[], typed: string): string[] {
  return variables.map((v) => `vars.${v}`).filter((option) => option.startsWith(typed) || option.slice(5).startsWith(typed));
}

export const TemplateInput = forwardRef<HTMLInputElement | HTMLTextAreaElement | null, Props>(function TemplateInput(
  { id, value, onChange, variables, multiline }, outer,
) {
  const field = useRef<HTMLInputElement & HTMLTextAreaElement>(null);
  useImperativeHandle(outer, () => field.current as HTMLInputElement & HTMLTextAreaElement);
  const [open, setOpen] = useState<Open | null>(null);
  const [active, setActive] = useState(0);
  const caretAfter = useRef<number | null>(null);
  const listId = useId();

  // After an insertion the controlled value re-renders the field: put the caret back.
  useLayoutEffect(() => {
    if (caretAfter.current !== null && field.current) {
      field.current.setSelectionRange(caretAfter.current, caretAfter.current);
      caretAfter.current = null;
    }
  }, [value]);

  function look(text: string, caret: number | null) {
    const found = caret === null ? null : openTemplate(text, caret);
    const options = found ? suggestions(variables, found.typed) : [];
    setOpen(found && options.length ? { start: found.start, options } : null);
    setActive(0);
  }

  function insert(option: string) {
    const element = field.current;
    if (!element || !open) return;
    const caret = element.selectionStart ?? value.length;
    // A `}}` right after the caret (typed ahead, or an edit inside a token) is reused.
    const rest = value.slice(caret).replace(/^\s*\}\}/, "");
    const token = `{{${option}}}`;
    caretAfter.current = open.start + token.length;
    setOpen(null);
    onChange(value.slice(0, open.start) + token + rest);
  }

  function onKeyDown(event: React.KeyboardEvent) {
    if (!open) return;
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      const step = event.key === "ArrowDown" ? 1 : -1;
      setActive((i) => (i + step + open.options.length) % open.options.length);
    } else if (event.key === "Enter" || event.key === "Tab") {
      insert(open.options[active]);
    } else if (event.key === "Escape") {
      setOpen(null);
    } else return;
    event.preventDefault();
    event.stopPropagation();
  }

  const props = {
    id, ref: field, value, onKeyDown,
    role: "combobox", "aria-autocomplete": "list" as const, "aria-expanded": Boolean(open), "aria-controls": listId,
    "aria-activedescendant": open ? `${listId}-${active}` : undefined,
    onChange: (e: React.ChangeEvent<HTMLInputElement | HTMLTextAreaElement>) => {
      onChange(e.target.value);
      look(e.target.value, e.target.selectionStart);
    },
    onClick: (e: React.MouseEvent<HTMLInputElement | HTMLTextAreaElement>) => look(e.currentTarget.value, e.currentTarget.selectionStart),
    onBlur: () => setOpen(null),
  };
  return (
    <div className="template-field">
      {multiline ? <textarea rows={3} {...props} /> : <input type="text" {...props} />}
      {open && (
        <ul className="var-suggestions" role="listbox" id={listId} aria-label="Variables">
          {open.options.map((option, index) => (
            <li key={option} id={`${listId}-${index}`} role="option" aria-selected={index === active}
              // mousedown, not click: the field must keep focus (a blur closes the list).
              onMouseDown={(e) => { e.preventDefault(); insert(option); }}>
              {option}
            </li>
          ))}
        </ul>
      )}
    </div>
  );
});
