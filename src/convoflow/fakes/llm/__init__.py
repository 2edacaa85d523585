"""The fake LLM (`convoflow fake-llm`): OpenAI Chat Completions and Anthropic Messages
with scripted replies (`rules.Script`), served by `server.FakeLLM`."""
