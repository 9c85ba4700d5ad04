#!/usr/bin/env bash
# A real Redmine from Debian 12's packages, for klaxon's integration test of its
# Redmine sink (tests/redmine_test.cc). Only ever serves on 127.0.0.1.
#
#   redmine-peer.sh install          installs redmine + redmine-sqlite if missing and
#                                    finishes their configuration; idempotent, and
#                                    quick when already done.
#   redmine-peer.sh start DIR PORT [OWNER_PID]
#                                    starts a fresh instance whose files and sqlite
#                                    database are all under DIR (no test touches a
#                                    shared database), REST API on, project "ops", an
#                                    issue custom field for klaxon's incident id. Writes
#                                    DIR/api_key (the admin's key), DIR/incident_field_id,
#                                    DIR/redmine.pid (leader of the server's process
#                                    group) and DIR/redmine.log, then returns without
#                                    waiting for the server to answer. With OWNER_PID
#                                    the server is also ended once that process is
#                                    gone (a test killed by its timeout runs no cleanup).
#   redmine-peer.sh stop DIR         ends that instance's process group.
#
# The migrated database is built once per Redmine version into a template under
# $KLAXON_REDMINE_CACHE (default ~/.cache/klaxon-redmine) and copied for each start.
# Needs root: apt-get, and each instance is registered as /var/lib/redmine/NAME,
# the place Debian's Redmine reads an instance's config, tmp and log from.
set -euo pipefail
shopt -s inherit_errexit  # also inside $(template)

readonly REDMINE_ROOT=/usr/share/redmine
readonly INSTANCES=/var/lib/redmine
readonly PACKAGES=(redmine redmine-sqlite ruby-webrick)
readonly CACHE="${KLAXON_REDMINE_CACHE:-${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/klaxon-redmine}"

# Run by `rails runner` on the template database. A change here changes the
# template's key, so an old template is never used with new setup.
readonly SETUP_RB='
raise "no default data: no trackers or no status 3" if Tracker.none? || !IssueStatus.exists?(3)
Setting.rest_api_enabled = "1"
admin = User.find_by_login!("admin")
admin.must_change_passwd = false
admin.save!
Project.find_by(identifier: "ops") || Project.create!(
  name: "ops", identifier: "ops", is_public: true, tracker_ids: Tracker.pluck(:id))
field = IssueCustomField.find_by(name: "klaxon incident") || IssueCustomField.create!(
  name: "klaxon incident", field_format: "string", is_filter: true, is_for_all: true,
  searchable: true, visible: true, tracker_ids: Tracker.pluck(:id))
File.write(ENV.fetch("KLAXON_OUT") + "/api_key", admin.api_key + "\n")
File.write(ENV.fetch("KLAXON_OUT") + "/incident_field_id", field.id.to_s + "\n")
'

# Debian 12's Redmine needs a web server gem the Gemfile does not name (Ruby 3.1
# has no bundled webrick), and sqlite3 whatever the default instance uses.
readonly GEMFILE='
eval_gemfile "/usr/share/redmine/Gemfile"
gem "webrick"
gem "sqlite3", "~> 1.4.0" unless dependencies.any? { |d| d.name == "sqlite3" }
'

say() { echo "redmine-peer: $*" >&2; }
die() { say "$*"; exit 1; }

installed() {
  local p
  for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || return 1
  done
}

# Bundler 2.3 (Debian 12) insists on gems/NAME-VERSION/ for every gem spec, and
# Debian's packaged gems have only the spec: without the folders the redmine
# post-install step (bundle install --local) fails with "Could not find X.gem".
gem_folders_workaround() {
  local dir spec name
  for dir in /usr/share/rubygems-integration/all /usr/share/rubygems-integration/3.*/ \
             /usr/lib/*/rubygems-integration/3.*/; do
    [ -d "$dir/specifications" ] || continue
    for spec in "$dir"/specifications/*.gemspec; do
      [ -e "$spec" ] || continue
      name=$(basename "$spec" .gemspec)
      [ -d "$dir/gems/$name" ] || mkdir -p "$dir/gems/$name"
    done
  done
}

cmd_install() {
  installed && return 0
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  # dbconfig-common asks which database the default instance uses: sqlite, in
  # the package's own place, made and migrated by the package.
  $sudo debconf-set-selections <<'EOF'
redmine redmine/current-instances string default
redmine redmine/instances/default/dbconfig-install boolean true
redmine redmine/instances/default/database-type select sqlite3
redmine redmine/instances/default/default-language select en
EOF
  if ! apt-cache policy redmine 2>/dev/null | grep -q 'Candidate: [0-9]'; then
    $sudo apt-get update -qq
  fi
  local log
  log=$(mktemp "${TMPDIR:-/tmp}/klaxon-redmine-install.XXXXXX.log")
  say "installing ${PACKAGES[*]} (a minute or two; output in $log)"
  # Expected to fail the first time in redmine's post-install step: see above.
  $sudo apt-get install -y -q --no-install-recommends "${PACKAGES[@]}" >"$log" 2>&1 ||
    say "apt-get install did not finish configuring redmine; applying the gem folder workaround"
  if ! installed; then
    $sudo bash -c "$(declare -f gem_folders_workaround); gem_folders_workaround"
    $sudo dpkg --configure -a >>"$log" 2>&1 || true
  fi
  installed || { tail -n 30 "$log" >&2; die "redmine is still not installed: see $log"; }
  say "installed"
}

# Everything Redmine runs in for instance NAME at FOLDER: config/database.yml,
# secret, tmp, log and files; the database itself is FOLDER/db.sqlite3.
make_instance() {
  local name="$1" folder="$2"
  mkdir -p "$folder"/{config,log,files,public/plugin_assets,tmp/pids,tmp/cache,tmp/sockets,tmp/sessions}
  cat >"$folder/config/database.yml" <<EOF
production:
  adapter: sqlite3
  database: $folder/db.sqlite3
  timeout: 5000
EOF
  head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$folder/config/secret_key.txt"
  [ -w "$INSTANCES" ] || die "cannot write $INSTANCES, where Debian's Redmine finds its instances: run as root"
  ln -sfn "$folder" "$INSTANCES/$name"
}

redmine_env() {
  export RAILS_ENV=production REDMINE_INSTANCE="$1" BUNDLE_GEMFILE="$2/Gemfile" REDMINE_LANG=en
  unset DATABASE_URL
}

# Prints the folder holding db.sqlite3, api_key and incident_field_id, ready to copy.
template() {
  local version key dir
  version=$(dpkg-query -W -f='${Version}' redmine)
  key=$(printf '%s\n%s\n%s' "$version" "$SETUP_RB" "$GEMFILE" | sha1sum | cut -c1-12)
  dir="$CACHE/$key"
  [ -f "$dir/ready" ] && { echo "$dir"; return 0; }
  mkdir -p "$CACHE"
  (
    flock -w 300 9 || die "timed out waiting for another run to build $dir"
    [ -f "$dir/ready" ] && exit 0
    say "building the template database in $dir (once per Redmine version)"
    local started=$SECONDS build="$CACHE/build-$$" name="klaxon-build-$$"
    rm -rf "$dir" "$build"
    mkdir -p "$dir"
    printf '%s' "$GEMFILE" >"$dir/Gemfile"
    make_instance "$name" "$build"
    trap 'rm -f "$INSTANCES/$name"; rm -rf "$build"' EXIT
    (
      set -e
      redmine_env "$name" "$dir"
      cd "$REDMINE_ROOT"
      # Two processes: one that migrated still holds the old columns and fails to
      # load the default data (saying so, yet exiting 0).
      ruby bin/rake db:migrate >"$build/setup.log" 2>&1 &&
        ruby bin/rake redmine:load_default_data >>"$build/setup.log" 2>&1 ||
        { cat "$build/setup.log" >&2; die "rake db:migrate, redmine:load_default_data failed"; }
      printf '%s' "$SETUP_RB" >"$build/setup.rb"
      KLAXON_OUT="$dir" ruby bin/rails runner "$build/setup.rb" >>"$build/setup.log" 2>&1 ||
        { cat "$build/setup.log" >&2; die "rails runner (REST API, project, custom field) failed"; }
    ) || exit 1
    cp "$build/db.sqlite3" "$dir/db.sqlite3"
    touch "$dir/ready"
    say "template built in $((SECONDS - started))s"
  ) 9>"$CACHE/lock"
  [ -f "$dir/ready" ] || exit 1
  echo "$dir"
}

cmd_start() {
  [ $# -eq 2 ] || [ $# -eq 3 ] || die "usage: $0 start DIR PORT [OWNER_PID]"
  local dir port owner="${3:-}" tpl name pid
  mkdir -p "$1"
  dir=$(cd "$1" && pwd -P)
  port="$2"
  # Exit status 3 says "not installed", which the test reports as skipped;
  # any other failure of an installed Redmine is a test failure.
  installed || { say "redmine is not installed: run $0 install"; exit 3; }
  # Instances of folders since removed.
  find "$INSTANCES" -maxdepth 1 -name 'klaxon-*' -xtype l -delete 2>/dev/null || true
  tpl=$(template)
  name="klaxon-$(printf '%s' "$dir" | sha1sum | cut -c1-12)"
  make_instance "$name" "$dir/instance"
  cp "$tpl/db.sqlite3" "$dir/instance/db.sqlite3"
  cp "$tpl/api_key" "$tpl/incident_field_id" "$dir/"
  redmine_env "$name" "$tpl"
  export RAILS_LOG_TO_STDOUT=1
  cd "$REDMINE_ROOT"
  # setsid: the server leads its own process group, which `stop` (or a test) ends whole.
  setsid ruby bin/rails server -b 127.0.0.1 -p "$port" -P "$dir/instance/tmp/pids/server.pid" \
    >"$dir/redmine.log" 2>&1 </dev/null &
  pid=$!
  echo "$pid" >"$dir/redmine.pid"
  if [ -n "$owner" ]; then
    setsid bash -c 'while kill -0 "$1" && kill -0 -- "-$2"; do sleep 1; done 2>/dev/null
                    kill -TERM -- "-$2" 2>/dev/null || exit 0
                    for i in 1 2 3 4 5; do sleep 1; kill -0 -- "-$2" 2>/dev/null || exit 0; done
                    kill -KILL -- "-$2" 2>/dev/null' \
      watcher "$owner" "$pid" >/dev/null 2>&1 </dev/null &
  fi
  say "starting http://127.0.0.1:$port (pid $pid, log $dir/redmine.log)"
}

cmd_stop() {
  [ $# -eq 1 ] || die "usage: $0 stop DIR"
  local dir="$1" pid i
  [ -f "$dir/redmine.pid" ] || return 0
  pid=$(cat "$dir/redmine.pid")
  kill -TERM -- "-$pid" 2>/dev/null || true
  for i in $(seq 1 50); do
    kill -0 -- "-$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL -- "-$pid" 2>/dev/null || true
  rm -f "$dir/redmine.pid"
  find "$INSTANCES" -maxdepth 1 -name 'klaxon-*' -lname "$(cd "$dir" && pwd -P)/instance" \
    -delete 2>/dev/null || true
}

case "${1:-}" in
  install) shift; cmd_install "$@" ;;
  start) shift; cmd_start "$@" ;;
  stop) shift; cmd_stop "$@" ;;
  *) die "usage: $0 install | start DIR PORT [OWNER_PID] | stop DIR" ;;
esac
