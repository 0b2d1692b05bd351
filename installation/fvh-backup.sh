#!/bin/sh
# Daily backup for systemd (fvh-backup.service): `fvh backup` into a dated file, then
# delete backups older than FVH_BACKUP_KEEP_DAYS days. Old files are only deleted after a
# backup succeeded, so a failing backup never eats the last good ones.
#   FVH_BIN                path of the fvh command   (default /opt/fvh/.venv/bin/fvh)
#   FVH_BACKUP_DIR         where backups go          (default /var/lib/fvh/backups)
#   FVH_BACKUP_KEEP_DAYS   days to keep, 0 = forever (default 30)
set -eu

FVH_BIN=${FVH_BIN:-/opt/fvh/.venv/bin/fvh}
FVH_BACKUP_DIR=${FVH_BACKUP_DIR:-/var/lib/fvh/backups}
FVH_BACKUP_KEEP_DAYS=${FVH_BACKUP_KEEP_DAYS:-30}

case $FVH_BACKUP_KEEP_DAYS in
    '' | *[!0-9]*) echo "fvh-backup: FVH_BACKUP_KEEP_DAYS must be a number of days" >&2; exit 2 ;;
esac

umask 077 # backups hold password hashes and API key hashes
mkdir -p "$FVH_BACKUP_DIR"
target="$FVH_BACKUP_DIR/fvh-$(date +%Y%m%d-%H%M%S).fvhbak"
if [ -e "$target" ]; then
    echo "fvh-backup: $target exists already" >&2
    exit 1
fi
if ! "$FVH_BIN" backup "$target"; then
    rm -f "$target" # never leave a half-written file that looks like a backup
    echo "fvh-backup: backup failed" >&2
    exit 1
fi
echo "fvh-backup: wrote $target"

if [ "$FVH_BACKUP_KEEP_DAYS" -gt 0 ]; then
    find "$FVH_BACKUP_DIR" -maxdepth 1 -type f -name 'fvh-*.fvhbak' \
        -mtime +"$FVH_BACKUP_KEEP_DAYS" -print -delete
fi
