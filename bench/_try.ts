import { extismUpper } from "/work/main/bench/_extism.ts";
for (const w of [false, true]) {
  const u = await extismUpper(w);
  console.log(w, JSON.stringify(await u.call("hello, World! ünï 123")), JSON.stringify(await u.call("")));
  await u.close();
}
