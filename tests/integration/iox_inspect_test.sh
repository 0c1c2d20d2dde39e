#!/usr/bin/env bash
# Cisco's own IOx packages (unsigned, SHA-1 manifests) inspect cleanly, and are refused by
# verify under the default policy.
source "$(dirname "$0")/lib.sh"
cd "$WORK"
lxc=$SHARED/fixtures/iox/nt02-c_simple_ir800-lxc.tar
paas=$SHARED/fixtures/iox/python_restsense_1.0.0.tar.gz
"$FOGKEEP" pki init --dir pki >/dev/null

expect_ok "inspect the IOx lxc package" "$FOGKEEP" package inspect "$lxc"
grep -q "^Name *nt02-c_simple" "$WORK/.stdout" || fail "lxc name: $(cat "$WORK/.stdout")"
grep -q "^Manifest *SHA-1 (IOx legacy), 2 entries: all members match" "$WORK/.stdout" || fail "lxc manifest: $(cat "$WORK/.stdout")"
grep -q "^Signature *unsigned" "$WORK/.stdout" || fail "lxc signature"

expect_ok "inspect the IOx paas package" "$FOGKEEP" package inspect "$paas" --json
jq -e '.descriptor.name == "RESTSense" and .descriptor.type == "paas" and .manifest.algorithm == "sha1"
       and .manifest.status == "ok" and .signature.signed == false
       and (.descriptor_error | test("unsupported app type"))' "$WORK/.stdout" >/dev/null || fail "paas json: $(cat "$WORK/.stdout")"

expect_refused "IOx package unsigned under the default policy" "unsigned" \
  "$FOGKEEP" package verify "$lxc" --trust pki/ca.pem
expect_refused "a paas app is not runnable" "unsupported app type" \
  "$FOGKEEP" package verify "$paas" --trust pki/ca.pem --allow-unsigned
done_checks
