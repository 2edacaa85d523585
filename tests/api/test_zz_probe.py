from tests.api.helpers import P, execution, start_body, startable_workflow
async def test_probe(client, engine):
    workflow = await startable_workflow(client)
    body = {"workflow_execution": {"phone_number": "+15550002222"}}
    response = await client.post(f"{P}/workflows/{workflow['id']}/executions", json=body)
    await engine.worker.drain()
    detail = await execution(client, response.json()["data"]["id"])
    print("STATUS", detail["status"], detail["error_details"])
