#!/bin/sh
# nginx in front of local instances, to try several of them on one machine without TLS
# (docs/deployment.md, "Trying it on one machine"): writes DIR/nginx.conf, a whole nginx
# configuration that includes DIR/nirvana.conf, made from deploy/nginx.conf with only what
# a local try needs changed, so the rest (headers, upgrades, timeouts, error pages) is the
# production recipe as shipped:
#   - the upstream lists the given instances;
#   - the site listens on 127.0.0.1:PORT over plain http (no certificate);
#   - the port-80 server (the redirect to https, certbot's challenges) is left out;
#   - logs, pid and temporary files go to DIR.
# Never for production: it serves sign-in over plain http.
#
# usage: deploy/nginx-local.sh DIR PORT HOST:PORT...
#   e.g. deploy/nginx-local.sh /tmp/nirvana-try/nginx 8080 127.0.0.1:8001 127.0.0.1:8002
#   then: nginx -p DIR -c DIR/nginx.conf          (stop: the same with -s quit)
# DIR must be new, empty, or one this script wrote before (it holds .nginx-local): nothing
# else in it is touched, and only directories it creates have their mode changed (o+x, to
# DIR's parents too); it names any other on the way to DIR that needs o+x. DIR may hold only
# A-Z a-z 0-9 . _ / + - (nginx and the shell need no quoting then); PORT is 1-65535 and
# each instance HOST:PORT or [IPv6]:PORT. Anything else is refused with exit 2 and one
# line. When nginx is installed (NGINX, PATH or /usr/sbin/nginx) the result must pass -t.
set -eu

refuse() {
    echo "$0: $1" >&2
    exit 2
}
is_port() {
    case $1 in ''|*[!0-9]*) return 1 ;; esac
    [ ${#1} -le 5 ] && [ "$1" -ge 1 ] && [ "$1" -le 65535 ]
}

if [ $# -lt 3 ]; then
    echo "usage: $0 DIR PORT HOST:PORT..." >&2
    exit 2
fi
dir=$1
port=$2
shift 2
case $dir in /*) ;; *) dir=$(pwd)/$dir ;; esac
case $dir in *[!A-Za-z0-9._/+-]*) refuse "DIR may hold only A-Z a-z 0-9 . _ / + -: $dir" ;; esac
is_port "$port" || refuse "PORT is a number from 1 to 65535: $port"
for upstream in "$@"; do
    case $upstream in
        \[*\]:*) host=${upstream%\]:*}; host=${host#?}; allowed=hex ;;
        *:*) host=${upstream%:*}; allowed=name ;;
        *) refuse "not HOST:PORT: $upstream" ;;
    esac
    case $allowed:$host in
        *:|hex:*[!0-9A-Fa-f:.]*|name:*[!A-Za-z0-9.-]*) refuse "not HOST:PORT: $upstream" ;;
    esac
    is_port "${upstream##*:}" || refuse "not HOST:PORT: $upstream"
done

if [ ! -e "$dir" ]; then
    # Run as root, nginx's workers are `nobody`: they must reach DIR, so every directory
    # made here (parents too, whatever the umask) gets o+x. DIR holds no space or glob.
    made=
    d=$dir
    while [ ! -e "$d" ]; do made="$made $d"; d=$(dirname "$d"); done
    mkdir -p "$dir"
    for d in $made; do chmod o+x "$d"; done
elif [ ! -d "$dir" ]; then
    refuse "DIR is not a directory: $dir"
elif [ ! -e "$dir/.nginx-local" ] && [ -n "$(ls -A "$dir")" ]; then
    refuse "DIR is neither empty nor written by this script (no .nginx-local): $dir"
fi
echo "written by deploy/nginx-local.sh, which may write here again" > "$dir/.nginx-local"
site=$(dirname "$0")/nginx.conf

# The upstream's server lines replaced by the given instances; the server block holding
# `listen 80;` dropped whole; the TLS listen made plain, its ssl_ lines (certificate, key,
# protocols) removed.
# Values come through ENVIRON and go in with index/substr: awk -v would read backslashes,
# and gsub an `&`.
PORT=$port DIR=$dir UPSTREAMS=$* awk '
    function flush_block() {
        if (block !~ /listen 80;/) printf "%s", block
        block = ""; in_block = 0
    }
    BEGIN { logs = "/var/log/nginx/" }
    /^upstream nirvana \{/ { in_upstream = 1 }
    in_upstream && /^    server / {
        if (!listed) {
            n = split(ENVIRON["UPSTREAMS"], hosts, " ")
            for (i = 1; i <= n; i++)
                printf "    server %s max_fails=1 fail_timeout=5s;\n", hosts[i]
            listed = 1
        }
        next
    }
    in_upstream && /^\}/ { in_upstream = 0 }
    # A comment just above a server block goes (or stays) with it.
    /^server \{/ { in_block = 1; block = comment; comment = "" }
    {
        line = $0
        sub(/listen 443 ssl;/, "listen 127.0.0.1:" ENVIRON["PORT"] ";", line)
        if ((at = index(line, logs)) > 0) {
            rest = substr(line, at + length(logs))
            name = substr(rest, 1, index(rest, " ") - 1)
            line = substr(line, 1, at - 1) "\"" ENVIRON["DIR"] "/" name "\"" \
                substr(rest, length(name) + 1)
        }
        if (line ~ /^ *ssl_[a-z_]+ /) next
        if (in_block) {
            block = block line "\n"
            if (line ~ /^\}/) flush_block()
        } else if (line ~ /^#/) {
            comment = comment line "\n"
        } else {
            printf "%s", comment; comment = ""
            print line
        }
    }
    END { printf "%s", comment }
' "$site" > "$dir/nirvana.conf"

cat > "$dir/nginx.conf" <<EOF
worker_processes 1;
error_log "$dir/error.log" warn;
pid "$dir/nginx.pid";
events { worker_connections 512; }
http {
    client_body_temp_path "$dir/body";
    proxy_temp_path "$dir/proxy";
    fastcgi_temp_path "$dir/fastcgi";
    uwsgi_temp_path "$dir/uwsgi";
    scgi_temp_path "$dir/scgi";
    include "$dir/nirvana.conf";
}
EOF
nginx=${NGINX:-$(command -v nginx || echo /usr/sbin/nginx)}
if [ -x "$nginx" ] && ! checked=$("$nginx" -t -p "$dir" -c "$dir/nginx.conf" 2>&1); then
    echo "$checked" >&2
    echo "$0: nginx -t refused $dir/nginx.conf" >&2
    exit 1
fi
echo "wrote $dir/nginx.conf: start with  nginx -p '$dir' -c '$dir/nginx.conf'"
# Directories that were there already are not changed: name those nginx's workers (when
# started as root) cannot pass through.
closed=
d=$dir
while :; do
    case $(ls -ld "$d" | cut -c10) in x|t) ;; *) closed="$closed $d" ;; esac
    [ "$d" = / ] && break
    d=$(dirname "$d")
done
if [ -n "$closed" ]; then
    echo "note: started as root, nginx's workers (nobody) cannot reach DIR: chmod o+x$closed"
fi
echo "site: http://127.0.0.1:$port  (instances: $*)"
