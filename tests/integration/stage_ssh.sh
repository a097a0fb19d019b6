#!/usr/bin/env bash
# sftp:// and scp:// stage-in against a real OpenSSH server on loopback
# (Debian's openssh-server, started here with its own host key, config and
# authorized key; nothing of the machine's ssh setup is used). Keys are
# ECDSA: Debian 12's libssh2 1.10 (under libcurl) cannot sign with RSA-SHA2,
# which OpenSSH 9 requires for RSA. Skips (77) when sshd is missing or
# cannot start.
source "$(dirname "$0")/lib.sh"

SSHD=/usr/sbin/sshd
[ -x "$SSHD" ] || { echo "skip: no $SSHD (apt-get install openssh-server)"; exit 77; }
S=$TMP/ssh
mkdir -p "$S/home/.ssh" "$S/data" "$TMP/work"
chmod 700 "$S/home/.ssh"
ssh-keygen -q -t ecdsa -b 256 -N '' -f "$S/hostkey"
ssh-keygen -q -t ecdsa -b 256 -m PEM -N '' -f "$S/home/.ssh/id_ecdsa"
cp "$S/home/.ssh/id_ecdsa.pub" "$S/authorized_keys"
chmod 600 "$S/authorized_keys"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$S/sshd_config" <<EOF
Port $PORT
ListenAddress 127.0.0.1
HostKey $S/hostkey
AuthorizedKeysFile $S/authorized_keys
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
StrictModes no
PidFile $S/sshd.pid
Subsystem sftp internal-sftp
UsePAM no
EOF
mkdir -p /run/sshd 2>/dev/null || :
"$SSHD" -f "$S/sshd_config" -E "$S/sshd.log" || { echo "skip: sshd did not start"; exit 77; }
trap 'kill "$(cat "$S/sshd.pid" 2>/dev/null)" 2>/dev/null || :; rm -rf "$TMP"' EXIT
for _ in $(seq 50); do
    python3 -c "import socket; socket.create_connection(('127.0.0.1', $PORT), 1)" 2>/dev/null && break
    sleep 0.1
done
echo "[127.0.0.1]:$PORT $(cut -d' ' -f1-2 "$S/hostkey.pub")" >"$S/home/.ssh/known_hosts"
USER_NAME=$(id -un)

head -c 300000 /dev/urandom >"$S/data/big.bin"
printf 'hello over ssh\n' >"$S/data/small.txt"
big_sha=$(sha256sum "$S/data/big.bin" | cut -d' ' -f1)
base="$USER_NAME@127.0.0.1:$PORT$S/data"

stage() { # ARGS...: wfmpi stage-in in the work dir with the test's HOME
    set +e
    (cd "$TMP/work" && HOME=$S/home "$WFMPI" stage-in --retries 0 --connect-timeout 10 -- "$@") \
        >"$TMP/out" 2>"$TMP/err"
    RC=$?
    set -e
}

stage "sftp://$base/big.bin" big.bin "$big_sha" "scp://$base/small.txt" sub/small.txt -
expect_rc 0 "sftp and scp"
cmp -s "$S/data/big.bin" "$TMP/work/big.bin" || fail "sftp copy differs"
[ "$(cat "$TMP/work/sub/small.txt")" = "hello over ssh" ] || fail "scp copy"
grep -q "big.bin: 300000 bytes" "$TMP/err" || fail "no final line: $(cat "$TMP/err")"
pass "sftp:// (sha256 verified) and scp:// downloads"

stage "sftp://$base/small.txt" bad.txt "$big_sha"
expect_rc 65 "sftp with a wrong checksum"
[ ! -e "$TMP/work/bad.txt" ] || fail "a mismatched file was kept"
pass "a checksum mismatch over sftp is exit 65"

# A host whose key is not the one in known_hosts is refused.
ssh-keygen -q -t ecdsa -b 256 -N '' -f "$S/otherkey"
echo "[127.0.0.1]:$PORT $(cut -d' ' -f1-2 "$S/otherkey.pub")" >"$S/home/.ssh/known_hosts"
stage "sftp://$base/small.txt" again.txt -
[ "$RC" = 1 ] || fail "an unknown host key was accepted (exit $RC)"
[ ! -e "$TMP/work/again.txt" ] || fail "fetched from a host with the wrong key"
pass "a host key not in known_hosts is refused"
