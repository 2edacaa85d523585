"""JavaScript functions (Kapso's `async function handler(request, env)` contract) in an
embedded V8 isolate: `runner.JsRunner` in the server, `child` in its worker processes."""
