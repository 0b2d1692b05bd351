#!/bin/sh
# System packages the installation tests need (tests/ops/test_installation.py):
# nginx for `nginx -t` on the example site, and Debian's snakeoil certificate (package
# ssl-cert) that the site names; systemd-analyze and systemd-sysusers (package systemd,
# there already on most Debian machines) for the unit checks; python3-seccomp to run FVH
# under the units' system call filter without systemd; Debian's chromium (plus the DejaVu fonts
# for readable screenshots) for the browser test (tests/browser/, driven by Playwright); Debian's
# galera-4 (the wsrep provider) and rsync (its state transfer) for the 3-node MariaDB Galera
# cluster that tests/cluster/ starts beside the MariaDB server the suite already uses.
# Idempotent and quiet: does nothing when everything is there. Debian/Ubuntu; needs root
# (or sudo) only when something is missing.
set -eu

CERT=/etc/ssl/certs/ssl-cert-snakeoil.pem
KEY=/etc/ssl/private/ssl-cert-snakeoil.key

have_systemd() { command -v systemd-analyze >/dev/null 2>&1 && command -v systemd-sysusers >/dev/null 2>&1; }
have_nginx() { command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ]; }
have_seccomp() { [ ! -x /usr/bin/python3 ] || /usr/bin/python3 -c "import seccomp" >/dev/null 2>&1; }
have_cert() { [ -e "$CERT" ] && [ -e "$KEY" ]; }
have_chromium() { command -v chromium >/dev/null 2>&1; }
have_fonts() { [ -e /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ]; }
have_galera() { [ -e /usr/lib/galera/libgalera_smm.so ]; }
have_rsync() { command -v rsync >/dev/null 2>&1; }
have_all() {
    have_nginx && have_cert && have_systemd && have_seccomp && have_chromium && have_fonts \
        && have_galera && have_rsync
}

have_all && exit 0

sudo=""
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || { echo "ci-prereqs: run as root: nginx, ssl-cert, systemd, chromium, galera-4 or rsync missing" >&2; exit 1; }
    sudo="sudo"
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "ci-prereqs: install nginx, systemd, chromium, galera-4, rsync and a snakeoil certificate ($CERT, $KEY) by hand" >&2
    exit 1
fi

packages=""
have_nginx || packages="$packages nginx"
have_systemd || packages="$packages systemd"
have_seccomp || packages="$packages python3-seccomp"
have_chromium || packages="$packages chromium"
have_fonts || packages="$packages fonts-dejavu-core"
have_galera || packages="$packages galera-4"
have_rsync || packages="$packages rsync"
command -v make-ssl-cert >/dev/null 2>&1 || [ -x /usr/sbin/make-ssl-cert ] || packages="$packages ssl-cert"
if [ -n "$packages" ]; then
    echo "ci-prereqs: installing$packages" >&2
    # Installing nginx must not start a server on port 80 here: policy-rc.d exit 101 tells
    # invoke-rc.d "don't start services" (only added for this install when there is none).
    policy=/usr/sbin/policy-rc.d
    created_policy=""
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null
        $sudo chmod 755 "$policy"
        created_policy=1
    fi
    trap '[ -z "$created_policy" ] || $sudo rm -f "$policy"' EXIT
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
    # shellcheck disable=SC2086 # the package list is meant to be split
    $sudo env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq --no-install-recommends $packages >/dev/null
fi
# ssl-cert makes the certificate when it is installed; images often ship the package
# without it, so make it when it is missing.
mkcert=$(command -v make-ssl-cert || echo /usr/sbin/make-ssl-cert)
have_cert || $sudo "$mkcert" generate-default-snakeoil --force-overwrite
have_all
