// Validates KEDA ScaledObjects against KEDA's own CRD schema, as compiled by the
// @kubernetes-models/keda package (installed by `make install` under .tools/node).
// Usage: node keda_validate.mjs NODE_MODULES_DIR OBJECTS.json  → one line per object.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const [modules, file] = process.argv.slice(2);
const module = join(modules, "@kubernetes-models/keda/keda.sh/v1alpha1/ScaledObject.js");
const { ScaledObject } = await import(pathToFileURL(module).href);
let failed = 0;
for (const object of JSON.parse(readFileSync(file, "utf8"))) {
  try {
    new ScaledObject(object).validate();
    console.log(`ok ${object.metadata.name}`);
  } catch (error) {
    failed += 1;
    console.log(`invalid ${object.metadata.name}: ${error.message}`);
  }
}
process.exit(failed ? 1 : 0);
