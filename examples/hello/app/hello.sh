#!/bin/sh
# Entry point of the hello app. Counts starts in the persistent /data volume and serves a
# greeting over HTTP with busybox httpd.
data="${FOGKEEP_APP_DATA_DIR:-/data}"
starts=$(( $(cat "$data/starts" 2>/dev/null || echo 0) + 1 ))
echo "$starts" > "$data/starts" 2>/dev/null || echo "hello: $data is not writable"
mkdir -p /tmp/www
printf '%s (start #%s, app %s)\n' "${GREETING:-hello}" "$starts" "${FOGKEEP_APP_ID:-?}" > /tmp/www/index.html
echo "hello: start #$starts, serving on :8080"
exec httpd -f -p 8080 -h /tmp/www
