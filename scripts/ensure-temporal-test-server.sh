#!/usr/bin/env bash
# Makes sure Temporal's time-skipping test server is available for the workflow tests
# (test/component/timeSkipping.test.ts). @temporalio/testing would download a native build from
# temporal.download, which this kind of machine cannot reach; the same server is published to Maven
# Central as the Java SDK's io.temporal:temporal-test-server, so it is resolved from there (Java 11+
# and Maven) into .tools/temporal-test-server, with a launcher that takes the port as its argument,
# as @temporalio/testing expects. TEMPORAL_TEST_SERVER_PATH, when set, names an existing launcher.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -n "${TEMPORAL_TEST_SERVER_PATH:-}" ] && [ -x "${TEMPORAL_TEST_SERVER_PATH}" ]; then exit 0; fi
dir=.tools/temporal-test-server
pom=scripts/temporal-test-server/pom.xml
# Reinstalled when the pom changes (a new server version).
if [ -x "$dir/bin/temporal-test-server" ] && cmp -s "$pom" "$dir/pom.xml"; then exit 0; fi

for tool in java mvn; do
  command -v "$tool" >/dev/null 2>&1 || { echo "the workflow tests need Java 11+ and Maven for Temporal's test server: '$tool' not found" >&2; exit 1; }
done
echo "Temporal test server not found: resolving io.temporal:temporal-test-server from Maven Central into $dir" >&2
rm -rf "$dir"
mkdir -p "$dir/bin"
mvn --batch-mode --quiet -Dstyle.color=never -f "$pom" dependency:copy-dependencies -DoutputDirectory="$PWD/$dir/lib" >&2
cat > "$dir/bin/temporal-test-server" <<'LAUNCHER'
#!/bin/sh
# Temporal's test server on the port given as the first argument (time skipping on by default).
exec java -Xmx256m -cp "$(dirname "$0")/../lib/*" io.temporal.testserver.TestServer "$@"
LAUNCHER
chmod +x "$dir/bin/temporal-test-server"
cp "$pom" "$dir/pom.xml"
