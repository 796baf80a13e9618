// What zod's `z.locales` becomes in the in-process fast path's bundle (bin/build-cli.mjs): English
// only, which is the locale zod uses unless told otherwise. The other forty-odd locales are a
// third of that bundle, and nothing in Switchyard selects one.
export { default as en } from "zod/v4/locales/en.js";
