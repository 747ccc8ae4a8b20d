// The consumer test's conformance run (copied into the app as conformance_test.ts): the suite
// from the package's `./testing` export, against every example plugin the app loads.
import { testConformance } from "@gn/plugin-host/testing";

for (const name of ["audit", "exclaim", "shout"]) {
  testConformance(new URL(`./plugins/${name}/plugin.toml`, import.meta.url));
}
