#!/usr/bin/env bash
# Installs what `make` needs from Debian, only when it is missing; safe to rerun.
#   install-deps.sh venv     python3-venv (Debian's python3 lacks ensurepip without it), and gcc
#                            and python3-dev, which mypyc needs to compile the request path
#                            (setup.py); $PYTHON is the interpreter make builds the venv with
#   install-deps.sh servers  ejabberd, prosody and redis-server for the real-server test tier
#   install-deps.sh bench    for `make bench`: wrk (the HTTP load), strace (syscalls per request),
#                            and py-spy (the profile) into the project's .venv when it exists
# The servers are only ever run by the tests, isolated on loopback: their packages must not start
# the system daemons (which listen on all interfaces), hence the policy-rc.d guard below.
set -euo pipefail

missing=()
case "${1:-}" in
  venv)
    "${PYTHON:-python3}" -c 'import ensurepip' 2>/dev/null || missing+=(python3-venv)
    command -v gcc >/dev/null || missing+=(gcc)
    [ -e /usr/include/stdio.h ] || missing+=(libc6-dev)
    include=$("${PYTHON:-python3}" -c 'import sysconfig; print(sysconfig.get_path("include"))')
    [ -e "$include/Python.h" ] || missing+=(python3-dev)
    ;;
  servers)
    if ! command -v erl >/dev/null || ! compgen -G '/usr/lib/*/ejabberd-*/ebin/ejabberd.app' >/dev/null; then
      missing+=(ejabberd)
    fi
    command -v prosody >/dev/null || missing+=(prosody)
    command -v redis-server >/dev/null || missing+=(redis-server)
    ;;
  bench)
    command -v wrk >/dev/null || missing+=(wrk)
    command -v strace >/dev/null || missing+=(strace)
    # py-spy comes from PyPI (a wheel with its binary), not Debian; the venv is make's.
    if [ -x .venv/bin/pip ] && [ ! -x .venv/bin/py-spy ]; then
      .venv/bin/pip install -q py-spy
    fi
    ;;
  *)
    echo "usage: $0 venv|servers|bench" >&2
    exit 2
    ;;
esac
[ "${#missing[@]}" -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null; then
    exec sudo env PYTHON="${PYTHON:-python3}" bash "$0" "$@"
  fi
  echo "Missing Debian packages: ${missing[*]}. Install them as root:" >&2
  echo "  bash $0 $1" >&2
  exit 1
fi
if ! command -v apt-get >/dev/null; then
  echo "Missing packages ${missing[*]}, and this is not a Debian system (no apt-get)." >&2
  exit 1
fi

# Without systemd as PID 1, a postinst's `invoke-rc.d <svc> start` runs the init script unless
# /usr/sbin/policy-rc.d exits 101. Create one only if absent, and remove only the one we created.
created_policy=
remove_policy() {
  if [ -n "$created_policy" ]; then rm -f /usr/sbin/policy-rc.d; fi
}
trap remove_policy EXIT
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d
  created_policy=1
fi

echo "Installing ${missing[*]} from Debian" >&2
apt-get update
DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
