#!/usr/bin/env bash
# A throw-away Keystone (Debian's package, SQLite, fernet tokens) on a loopback port, for trying
# auth_strategy = keystone and for benchmarks. Not for production.
#
#   scripts/keystone-dev.sh start [DIR] [PORT]   # default /tmp/zaqar-keystone, 5000
#   scripts/keystone-dev.sh stop  [DIR]
#
# start creates: the bootstrap admin (password "admin", project "admin"), a service user "zaqar"
# (password "zaqar-service", role "service" in project "service") for [keystone_authtoken], and a
# user "demo" (password "demo", role "member" in project "demo"). It prints a [keystone_authtoken]
# section for zaqar.conf and the OS_* variables for the openstack CLI.
set -euo pipefail
cmd=${1:-start}
dir=${2:-/tmp/zaqar-keystone}
port=${3:-5000}
here=$(cd "$(dirname "$0")" && pwd)

stop() {
  if [ -f "$dir/uwsgi.pid" ]; then
    kill -TERM -- "-$(cat "$dir/uwsgi.pid")" 2>/dev/null || kill -TERM "$(cat "$dir/uwsgi.pid")" 2>/dev/null || true
    rm -f "$dir/uwsgi.pid"
  fi
}

if [ "$cmd" = stop ]; then stop; exit 0; fi
[ "$cmd" = start ] || { echo "usage: $0 start|stop [DIR] [PORT]" >&2; exit 2; }

"$here/install-test-peers.sh" keystone
stop
rm -rf "$dir" && mkdir -p "$dir"
url="http://127.0.0.1:$port/v3"
cat > "$dir/keystone.conf" <<CONF
[DEFAULT]
log_file = $dir/keystone.log
[database]
connection = sqlite:///$dir/keystone.db
[fernet_tokens]
key_repository = $dir/fernet-keys
[fernet_receipts]
key_repository = $dir/fernet-keys
[credential]
key_repository = $dir/credential-keys
[token]
provider = fernet
[cache]
enabled = true
backend = dogpile.cache.memory
CONF
km() { keystone-manage --config-file "$dir/keystone.conf" "$@" >>"$dir/manage.log" 2>&1; }
km db_sync
km fernet_setup --keystone-user root --keystone-group root
km credential_setup --keystone-user root --keystone-group root
km bootstrap --bootstrap-password admin --bootstrap-region-id RegionOne --bootstrap-public-url "$url/"
# SQLite's default journal lets an idle reader block every write; WAL does not.
/usr/bin/python3 -c "import sqlite3; sqlite3.connect('$dir/keystone.db').execute('PRAGMA journal_mode=WAL')"

(cd "$dir" && OS_KEYSTONE_CONFIG_DIR="$dir" OS_KEYSTONE_CONFIG_FILES=keystone.conf setsid uwsgi --plugin python3 \
  --http-socket "127.0.0.1:$port" --wsgi-file /usr/bin/keystone-wsgi-public --master --processes 1 --threads 1 \
  --lazy-apps --need-app --die-on-term --add-header "Connection: close" --pidfile "$dir/uwsgi.pid" \
  >"$dir/uwsgi.log" 2>&1 </dev/null &) >/dev/null 2>&1
for _ in $(seq 600); do curl -fs -o /dev/null "$url" && break; sleep 0.1; done
curl -fs -o /dev/null "$url" || { echo "keystone did not start; see $dir/uwsgi.log" >&2; exit 1; }

# api METHOD PATH [JSON]: a call with the admin token; prints the answer.
admin_token=$(curl -fsi -H 'Content-Type: application/json' -d '{"auth":{"identity":{"methods":["password"],"password":{"user":{"name":"admin","domain":{"id":"default"},"password":"admin"}}},"scope":{"project":{"name":"admin","domain":{"id":"default"}}}}}' \
  "$url/auth/tokens" | tr -d '\r' | awk 'tolower($1)=="x-subject-token:" {print $2}')
api() { curl -fs -X "$1" -H "X-Auth-Token: $admin_token" -H 'Content-Type: application/json' ${3:+-d "$3"} "$url$2"; }
id_of() { /usr/bin/python3 -c "import json,sys; print(json.load(sys.stdin)['$1']['id'])"; }
project() { api POST /projects "{\"project\":{\"name\":\"$1\",\"domain_id\":\"default\"}}" | id_of project; }
role() { api POST /roles "{\"role\":{\"name\":\"$1\"}}" | id_of role; }
member_role=$(api GET '/roles?name=member' | /usr/bin/python3 -c "import json,sys; print(json.load(sys.stdin)['roles'][0]['id'])")
user() {  # user NAME PASSWORD PROJECT_ID ROLE_ID
  local uid
  uid=$(api POST /users "{\"user\":{\"name\":\"$1\",\"password\":\"$2\",\"domain_id\":\"default\"}}" | id_of user)
  api PUT "/projects/$3/users/$uid/roles/$4" >/dev/null
}
user zaqar zaqar-service "$(project service)" "$(role service)"
user demo demo "$(project demo)" "$member_role"

cat <<OUT
Keystone: $url (state in $dir; stop with: $0 stop $dir)

[DEFAULT]
auth_strategy = keystone
[keystone_authtoken]
auth_url = $url
www_authenticate_uri = $url
auth_type = password
username = zaqar
password = zaqar-service
project_name = service
user_domain_name = Default
project_domain_name = Default

export OS_AUTH_URL=$url OS_IDENTITY_API_VERSION=3 OS_USERNAME=demo OS_PASSWORD=demo OS_PROJECT_NAME=demo OS_USER_DOMAIN_NAME=Default OS_PROJECT_DOMAIN_NAME=Default
OUT
