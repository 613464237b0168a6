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
set -eu

if [ $# -lt 3 ]; then
    echo "usage: $0 DIR PORT HOST:PORT..." >&2
    exit 2
fi
dir=$1
port=$2
shift 2
site=$(dirname "$0")/nginx.conf
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
# Run as root, nginx's workers are `nobody`: they must reach the directory.
chmod 711 "$dir"

# The upstream's server lines replaced by the given instances; the server block holding
# `listen 80;` dropped whole; the TLS listen made plain, the certificate lines removed.
awk -v port="$port" -v dir="$dir" -v upstreams="$*" '
    function flush_block() {
        if (block !~ /listen 80;/) printf "%s", block
        block = ""; in_block = 0
    }
    /^upstream nirvana \{/ { in_upstream = 1 }
    in_upstream && /^    server / {
        if (!listed) {
            n = split(upstreams, hosts, " ")
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
        sub(/listen 443 ssl;/, "listen 127.0.0.1:" port ";", line)
        gsub(/\/var\/log\/nginx\//, dir "/", line)
        if (line ~ /^ *ssl_certificate(_key)? /) next
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
error_log $dir/error.log warn;
pid $dir/nginx.pid;
events { worker_connections 512; }
http {
    client_body_temp_path $dir/body;
    proxy_temp_path $dir/proxy;
    fastcgi_temp_path $dir/fastcgi;
    uwsgi_temp_path $dir/uwsgi;
    scgi_temp_path $dir/scgi;
    include $dir/nirvana.conf;
}
EOF
echo "wrote $dir/nginx.conf: start with  nginx -p $dir -c $dir/nginx.conf"
echo "site: http://127.0.0.1:$port  (instances: $*)"
