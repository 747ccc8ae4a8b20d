// The consumer test's conformance run (copied into the app as conformance_test.ts): the suite
// `./testing` export, against every plugin the app loads.
import { testConformance } from "@gn/plugin-host/testing";

for (const name of ["audit", "exclaim", "shout"]) {
  testConformance(new URL(`./plugins/${name}/plugin.toml`, import.meta.url));
}
