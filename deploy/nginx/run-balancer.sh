#!/bin/sh
# Renders nginx.conf.template and runs nginx in the foreground (the balancer container's command; the loopback
# test runs this same script). POSIX sh and awk only: it must work in the official nginx image and in Debian's.
#
#   BALANCER_UPSTREAMS  space-separated host:port of the replicas (a name resolving to several addresses, like a
#                       scaled compose service, gives nginx one upstream peer per address)
#   BALANCER_LISTEN     what nginx listens on: a port, or address:port (default 8080)
#   BALANCER_PREFIX     nginx's working directory for config, pid and temp files (default /tmp/nginx)
#   BALANCER_FAIL_TIMEOUT  how long a replica that failed gets no new streams (default 10s)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
: "${BALANCER_UPSTREAMS:?set BALANCER_UPSTREAMS to the replicas host:port list}"
listen=${BALANCER_LISTEN:-8080}
prefix=${BALANCER_PREFIX:-/tmp/nginx}
fail_timeout=${BALANCER_FAIL_TIMEOUT:-10s}

mkdir -p "$prefix/tmp"
awk -v upstreams="$BALANCER_UPSTREAMS" -v listen="$listen" -v ft="$fail_timeout" '
    /^@UPSTREAM_SERVERS@$/ {
        n = split(upstreams, u, " ")
        for (i = 1; i <= n; i++) printf "        server %s max_fails=1 fail_timeout=%s;\n", u[i], ft
        next
    }
    { gsub(/@LISTEN@/, listen); print }
' "$here/nginx.conf.template" > "$prefix/nginx.conf"

# -e stderr: errors before the config is read go to stderr too, not to a log file the user may not own.
exec nginx -p "$prefix/" -c "$prefix/nginx.conf" -e stderr -g 'daemon off;'
