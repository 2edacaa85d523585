export function ErrorBox({ error, onClose }: { error: string | null; onClose?: () => void }) {
  if (!error) return null;
  return (
    <div className="error" role="alert">
      <pre>{error}</pre>
      {onClose && <button className="link" onClick={onClose} aria-label="Dismiss error">×</button>}
    </div>
  );
}

export function Notice({ text }: { text: string | null }) {
  return text ? <div className="notice" role="status">{text}</div> : null;
}

// Symbols every Debian/desktop font has (DejaVu): colour-emoji fonts are often missing.
export const ICONS: Record<string, string> = {
  play: "▶",
  message: "✉",
  buttons: "☰",
  template: "▤",
  hourglass: "◷",
  branch: "⋔",
  globe: "⇆",
  code: "ƒ",
  variable: "𝑥",
  person: "☺",
  subflow: "↪",
  sparkles: "✦",
  bolt: "⚡",
  node: "◻",
};

// Problems name their node; shown on that node, the prefix only repeats it.
export function withoutNode(message: string): string {
  return message.replace(/^node '[^']*': /, "");
}

export function download(name: string, value: unknown): void {
  const blob = new Blob([JSON.stringify(value, null, 2)], { type: "application/json" });
  const url = URL.createObjectURL(blob);
  const link = document.createElement("a");
  link.href = url;
  link.download = name;
  link.click();
  URL.revokeObjectURL(url);
}
