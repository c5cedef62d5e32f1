// Type-checked (never run) by tests/e2e/vite.test.mjs against the SDKs' own declarations: the
// README's "With the AT Protocol SDKs" snippet must compile with @atproto/api and @atcute/client
// as installed here.
import { Agent } from "@atproto/api";
import { Client } from "@atcute/client";
import type {} from "@atcute/atproto";
import init, { OAuthClient, type OAuthSession } from "atproto-oauth-wasm";

export async function sdkSnippet(client: OAuthClient, did: string, bytes: Uint8Array<ArrayBuffer>): Promise<void> {
  await init();
  const session: OAuthSession = await client.restore(did);
  const agent = new Agent(session);
  await agent.com.atproto.repo.createRecord({
    repo: agent.assertDid,
    collection: "app.example.note",
    record: { text: "hi" },
  });
  await agent.uploadBlob(new Blob([bytes], { type: "image/png" }));

  const rpc = new Client({ handler: session.fetchHandler });
  const res = await rpc.get("com.atproto.repo.listRecords", {
    params: { repo: session.did as `did:${string}:${string}`, collection: "app.example.note" },
  });
  if (res.ok) console.log(res.data.records.length);

  const last = await client.restore();
  if (last) console.log(new Agent(last).did);
}
