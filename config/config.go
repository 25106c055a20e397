// Package config loads zaqar.conf the way oslo.config does: repeatable
// --config-file (later files win), --config-dir, then OS_<GROUP>__<OPTION>
// environment variables, then command-line flags. One typed option table
// drives parsing, validation, --help and the sample file, so they cannot
// disagree. Unknown or invalid options in sections we own stop start-up;
// sections owned by other OpenStack libraries only warn.
package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/ini.v1"
)

// Kind is an option's type.
type Kind int

const (
	String Kind = iota
	Int
	Bool
	Duration // seconds as a float, or a Go duration such as 50ms
	List     // comma-separated
)

// Option describes one configuration option.
type Option struct {
	Section string
	Name    string
	Kind    Kind
	Default string
	Help    string
	Choices []string // allowed values for enumerations
	Min     *int64
	Secret  bool
}

func minOf(n int64) *int64 { return &n }

// Options is the table of every option the server reads.
var Options = []Option{
	{Section: "DEFAULT", Name: "admin_mode", Kind: Bool, Default: "false", Help: "Enable admin routes (/v2/health; pools and flavors with pooling)."},
	{Section: "DEFAULT", Name: "pooling", Kind: Bool, Default: "false", Help: "Spread queues over pools of message stores (needs a management store)."},
	{Section: "DEFAULT", Name: "auth_strategy", Kind: String, Default: "", Choices: []string{"", "keystone"}, Help: "Authentication: keystone = validate X-Auth-Token with Keystone ([keystone_authtoken]); empty = none: X-Project-ID and X-Roles are trusted as sent (development only)."},
	{Section: "DEFAULT", Name: "enable_checksum", Kind: Bool, Default: "false", Help: "Store and return an MD5 checksum of every message body."},
	{Section: "DEFAULT", Name: "unreliable", Kind: Bool, Default: "false", Help: "Accepted for compatibility; no effect."},
	{Section: "DEFAULT", Name: "debug", Kind: Bool, Default: "false", Help: "Log at debug level."},
	{Section: "DEFAULT", Name: "log_file", Kind: String, Default: "", Help: "Log to this file instead of stderr."},
	{Section: "DEFAULT", Name: "use_json", Kind: Bool, Default: "false", Help: "Log as JSON lines."},
	{Section: "drivers", Name: "transport", Kind: String, Default: "wsgi", Choices: []string{"wsgi"}, Help: "Transport driver."},
	{Section: "drivers", Name: "message_store", Kind: String, Default: "badger", Choices: []string{"badger", "redis"}, Help: "Message store: badger (embedded engine) or redis."},
	{Section: "drivers", Name: "management_store", Kind: String, Default: "sqlalchemy", Choices: []string{"sqlalchemy"}, Help: "Management store (pools, flavors, catalogue)."},
	{Section: "drivers:transport:wsgi", Name: "bind", Kind: String, Default: "127.0.0.1", Help: "Address to listen on."},
	{Section: "drivers:transport:wsgi", Name: "port", Kind: Int, Default: "8888", Min: minOf(0), Help: "Port to listen on."},
	{Section: "drivers:message_store:badger", Name: "path", Kind: String, Default: "./data", Help: "Data directory of the embedded store."},
	{Section: "drivers:message_store:badger", Name: "partitions", Kind: Int, Default: "4", Min: minOf(1), Help: "Partitions (one writer and one log each); fixed when the directory is created."},
	{Section: "drivers:message_store:badger", Name: "fsync", Kind: String, Default: "always", Choices: []string{"always", "interval", "never"}, Help: "When the log is forced to disk: always (acknowledged = durable), interval, never (UNSAFE)."},
	{Section: "drivers:message_store:badger", Name: "fsync_interval", Kind: Duration, Default: "50ms", Help: "Sync period with fsync = interval."},
	{Section: "drivers:message_store:badger", Name: "segment_size", Kind: Int, Default: "67108864", Min: minOf(65536), Help: "Log segment size in bytes."},
	{Section: "drivers:message_store:badger", Name: "compression", Kind: Bool, Default: "false", Help: "S2-compress log frames."},
	{Section: "drivers:message_store:badger", Name: "reap_interval", Kind: Duration, Default: "1s", Help: "How often expired messages and claims are reclaimed."},
	{Section: "drivers:message_store:badger", Name: "checkpoint_interval", Kind: Duration, Default: "10s", Help: "How often the index is synced and covered log segments are deleted: longer costs fewer disk stalls, shorter means less log to keep and replay after a crash."},
	{Section: "drivers:message_store:redis", Name: "uri", Kind: String, Default: "redis://127.0.0.1:6379", Secret: true, Help: "Redis URI for message_store = redis."},
	{Section: "drivers:management_store:sqlalchemy", Name: "uri", Kind: String, Default: "sqlite:///:memory:", Secret: true, Help: "SQLAlchemy-style URI of the management store."},
	{Section: "drivers:management_store:sqlalchemy", Name: "mysql_sql_mode", Kind: String, Default: "TRADITIONAL", Help: "Session sql_mode set on every MySQL/MariaDB connection; empty keeps the server's (a non-strict mode is warned about)."},
	{Section: "drivers:management_store:sqlalchemy", Name: "max_pool_size", Kind: Int, Default: "10", Min: minOf(1), Help: "Most open connections to the management store."},
	{Section: "drivers:management_store:sqlalchemy", Name: "idle_timeout", Kind: Duration, Default: "1h", Help: "Close pooled connections idle this long (keep below MySQL's wait_timeout)."},
	{Section: "pooling:catalog", Name: "enable_virtual_pool", Kind: Bool, Default: "false", Help: "With pooling, queues no pool can take live unregistered in the default message store."},
	{Section: "pooling:catalog", Name: "cache_ttl", Kind: Duration, Default: "10s", Help: "How long a queue's pool is remembered before the catalogue is asked again."},
	{Section: "notification", Name: "max_notifier_workers", Kind: Int, Default: "10", Min: minOf(1), Help: "Workers delivering notifications."},
	{Section: "notification", Name: "handoff_size", Kind: Int, Default: "1024", Min: minOf(1), Help: "Notification tasks queued in memory; beyond it tasks are deferred (counted), never dropped."},
	{Section: "notification", Name: "yield_to_posts", Kind: Duration, Default: "20ms", Help: "While posts are being served a delivery waits up to this long for a pause, so subscribers barely slow posting; 0 = never wait."},
	{Section: "notification", Name: "webhook_timeout", Kind: Duration, Default: "10s", Help: "Timeout of one webhook POST."},
	{Section: "notification", Name: "require_confirmation", Kind: Bool, Default: "false", Help: "New subscriptions get a confirmation request and receive messages only once confirmed (needs [signed_url] secret_key)."},
	{Section: "notification", Name: "external_confirmation_url", Kind: String, Default: "", Help: "Page that confirmation emails link to."},
	{Section: "notification", Name: "smtp_mode", Kind: String, Default: "third_part", Choices: []string{"third_part", "self_local"}, Help: "third_part: pipe mail to smtp_command; self_local: SMTP to smtp_host:smtp_port."},
	{Section: "notification", Name: "smtp_command", Kind: String, Default: "/usr/sbin/sendmail -t -oi", Help: "Mail command for smtp_mode = third_part."},
	{Section: "notification", Name: "smtp_host", Kind: String, Default: "localhost", Help: "SMTP server for smtp_mode = self_local."},
	{Section: "notification", Name: "smtp_port", Kind: Int, Default: "465", Min: minOf(1), Help: "SMTP port."},
	{Section: "notification", Name: "smtp_security", Kind: String, Default: "ssl", Choices: []string{"ssl", "starttls", "none"}, Help: "ssl (implicit TLS, as Zaqar), starttls, or none (local relay only)."},
	{Section: "notification", Name: "smtp_user_name", Kind: String, Default: "", Help: "SMTP user (empty: no authentication)."},
	{Section: "notification", Name: "smtp_user_password", Kind: String, Default: "", Secret: true, Help: "SMTP password."},
	{Section: "notification", Name: "smtp_sender", Kind: String, Default: "", Help: "From address when a subscription gives no options.from."},
	{Section: "signed_url", Name: "secret_key", Kind: String, Default: "", Secret: true, Help: "Key of pre-signed URLs (confirmation links); requests carrying URL-Signature are verified with it."},
	{Section: "keystone_authtoken", Name: "auth_url", Kind: String, Default: "", Help: "Keystone endpoint the service authenticates at and validates tokens with, e.g. http://keystone:5000/v3."},
	{Section: "keystone_authtoken", Name: "auth_type", Kind: String, Default: "password", Choices: []string{"password", "v3password"}, Help: "How the service authenticates: password (the service user below)."},
	{Section: "keystone_authtoken", Name: "username", Kind: String, Default: "", Help: "Service user name."},
	{Section: "keystone_authtoken", Name: "password", Kind: String, Default: "", Secret: true, Help: "Service user password."},
	{Section: "keystone_authtoken", Name: "project_name", Kind: String, Default: "", Help: "Project the service user's token is scoped to (usually service)."},
	{Section: "keystone_authtoken", Name: "user_domain_name", Kind: String, Default: "Default", Help: "Domain of the service user (by name)."},
	{Section: "keystone_authtoken", Name: "user_domain_id", Kind: String, Default: "", Help: "Domain of the service user (by id; wins over the name)."},
	{Section: "keystone_authtoken", Name: "project_domain_name", Kind: String, Default: "Default", Help: "Domain of the service project (by name)."},
	{Section: "keystone_authtoken", Name: "project_domain_id", Kind: String, Default: "", Help: "Domain of the service project (by id; wins over the name)."},
	{Section: "keystone_authtoken", Name: "www_authenticate_uri", Kind: String, Default: "", Help: "Public identity endpoint named in 401 answers (WWW-Authenticate); default auth_url."},
	{Section: "keystone_authtoken", Name: "auth_uri", Kind: String, Default: "", Help: "Deprecated name of www_authenticate_uri."},
	{Section: "keystone_authtoken", Name: "token_cache_time", Kind: Int, Default: "300", Min: minOf(-1), Help: "Seconds a validated token is trusted without asking Keystone again (never beyond its expiry); -1 = no cache."},
	{Section: "keystone_authtoken", Name: "token_cache_size", Kind: Int, Default: "10000", Min: minOf(1), Help: "Most tokens held in the validation cache (least recently used go first)."},
	{Section: "keystone_authtoken", Name: "http_connect_timeout", Kind: Int, Default: "5", Min: minOf(1), Help: "Seconds a request to Keystone may take; beyond it the API answers 503."},
	{Section: "keystone_authtoken", Name: "service_type", Kind: String, Default: "messaging", Help: "Service type matched against application credentials' access rules."},
	{Section: "keystone_authtoken", Name: "cafile", Kind: String, Default: "", Help: "CA bundle to verify an https Keystone with (default: the system's)."},
	{Section: "keystone_authtoken", Name: "insecure", Kind: Bool, Default: "false", Help: "Do not verify Keystone's TLS certificate (testing only)."},
	{Section: "oslo_policy", Name: "policy_file", Kind: String, Default: "policy.yaml", Help: "Policy rules (oslo.policy YAML or JSON) overriding Zaqar's defaults; a relative path is looked up beside the configuration files and in /etc/zaqar. The default file may be absent."},
	{Section: "cors", Name: "allowed_origin", Kind: List, Default: "", Help: "Origins allowed to call the API from a browser (scheme://host[:port], or *); empty = no CORS."},
	{Section: "cors", Name: "allow_credentials", Kind: Bool, Default: "true", Help: "Tell browsers they may send credentials (Access-Control-Allow-Credentials)."},
	{Section: "cors", Name: "expose_headers", Kind: List, Default: "X-Auth-Token,X-Subject-Token,X-Service-Token,X-OpenStack-Request-ID", Help: "Response headers a page may read."},
	{Section: "cors", Name: "max_age", Kind: Int, Default: "3600", Min: minOf(0), Help: "Seconds a browser may cache a preflight answer."},
	{Section: "cors", Name: "allow_methods", Kind: List, Default: "GET,PUT,POST,DELETE,PATCH,HEAD", Help: "Methods a page may use."},
	{Section: "cors", Name: "allow_headers", Kind: List, Default: "X-Auth-Token,X-Identity-Status,X-Roles,X-Service-Catalog,X-User-Id,X-Tenant-Id,X-OpenStack-Request-ID,X-Trace-Info,X-Trace-HMAC,Client-id", Help: "Request headers a page may send."},
	{Section: "transport", Name: "max_queues_per_page", Kind: Int, Default: "20", Min: minOf(1), Help: "Maximum queues per page."},
	{Section: "transport", Name: "max_messages_per_page", Kind: Int, Default: "20", Min: minOf(1), Help: "Maximum messages per page, get-by-ids and bulk delete."},
	{Section: "transport", Name: "max_subscriptions_per_page", Kind: Int, Default: "20", Min: minOf(1), Help: "Maximum subscriptions per page."},
	{Section: "transport", Name: "max_messages_per_claim_or_pop", Kind: Int, Default: "20", Min: minOf(1), Help: "Maximum messages per claim or pop."},
	{Section: "transport", Name: "max_queue_metadata", Kind: Int, Default: "65536", Min: minOf(1), Help: "Maximum queue metadata size in bytes."},
	{Section: "transport", Name: "max_messages_post_size", Kind: Int, Default: "262144", Min: minOf(1), Help: "Maximum size in bytes of one message POST."},
	{Section: "transport", Name: "default_message_ttl", Kind: Int, Default: "3600", Min: minOf(60), Help: "TTL in seconds of messages posted without one."},
	{Section: "transport", Name: "max_message_ttl", Kind: Int, Default: "1209600", Min: minOf(60), Help: "Maximum message TTL in seconds."},
	{Section: "transport", Name: "default_message_delay", Kind: Int, Default: "0", Min: minOf(0), Help: "Default delay shown for queues without _default_message_delay."},
	{Section: "transport", Name: "max_message_delay", Kind: Int, Default: "900", Min: minOf(0), Help: "Maximum message delay in seconds."},
	{Section: "transport", Name: "default_claim_ttl", Kind: Int, Default: "300", Min: minOf(60), Help: "Claim TTL in seconds when not given."},
	{Section: "transport", Name: "default_claim_grace", Kind: Int, Default: "60", Min: minOf(60), Help: "Claim grace in seconds when not given."},
	{Section: "transport", Name: "max_claim_ttl", Kind: Int, Default: "43200", Min: minOf(60), Help: "Maximum claim TTL in seconds."},
	{Section: "transport", Name: "max_claim_grace", Kind: Int, Default: "43200", Min: minOf(60), Help: "Maximum claim grace in seconds."},
	{Section: "transport", Name: "default_subscription_ttl", Kind: Int, Default: "3600", Min: minOf(60), Help: "Subscription TTL in seconds when not given."},
	{Section: "transport", Name: "subscriber_types", Kind: List, Default: "http,https,mailto,trust+http,trust+https", Help: "Allowed subscriber URI schemes."},
	{Section: "transport", Name: "client_id_uuid_safe", Kind: String, Default: "strict", Choices: []string{"strict", "off"}, Help: "strict: Client-ID must be a UUID; off: any string within the length bounds."},
	{Section: "transport", Name: "min_length_client_id", Kind: Int, Default: "10", Min: minOf(1), Help: "Minimum Client-ID length with client_id_uuid_safe = off."},
	{Section: "transport", Name: "max_length_client_id", Kind: Int, Default: "36", Min: minOf(1), Help: "Maximum Client-ID length with client_id_uuid_safe = off."},
	{Section: "transport", Name: "max_pools_per_page", Kind: Int, Default: "20", Min: minOf(1), Help: "Maximum pools per page."},
	{Section: "transport", Name: "max_flavors_per_page", Kind: Int, Default: "20", Min: minOf(1), Help: "Maximum flavors per page."},
	{Section: "transport", Name: "message_delete_with_claim_id", Kind: Bool, Default: "false", Help: "Bulk delete requires claim_ids covering every message."},
}

// Sections we accept but do not use yet; any option name is allowed there.
var openSections = map[string]bool{"storage": true}

// Foreign sections belong to other OpenStack libraries: warn, never fail.
var foreignSections = map[string]bool{"profiler": true, "oslo_messaging_notifications": true, "healthcheck": true, "trustee": true}

// Shared sections are read by oslo libraries too (keystonemiddleware,
// oslo.policy, oslo.middleware); operators' files carry options of theirs
// we do not use (memcached_servers, region_name, ...): those only warn.
var sharedSections = map[string]bool{"keystone_authtoken": true, "oslo_policy": true, "cors": true}

// FileList is the repeatable --config-file flag (later files win).
type FileList []string

func (f *FileList) String() string     { return strings.Join(*f, ",") }
func (f *FileList) Set(v string) error { *f = append(*f, v); return nil }

// Config holds resolved values by "section.name".
type Config struct {
	values   map[string]string
	Sources  []string // files read, in order
	Warnings []string
}

func key(section, name string) string { return strings.ToLower(section) + "." + name }

func lookup(section, name string) *Option {
	for i := range Options {
		if strings.EqualFold(Options[i].Section, section) && Options[i].Name == name {
			return &Options[i]
		}
	}
	return nil
}

// Load reads files, then the directory's *.conf files, then the
// environment, then overrides (flags), validating every value.
func Load(files []string, dir string, env []string, overrides map[string]string) (*Config, error) {
	c := &Config{values: map[string]string{}}
	for _, o := range Options {
		c.values[key(o.Section, o.Name)] = o.Default
	}
	if len(files) == 0 {
		for _, f := range []string{"./zaqar.conf", "/etc/zaqar/zaqar.conf"} {
			if _, err := os.Stat(f); err == nil {
				files = []string{f}
				break
			}
		}
	}
	if dir != "" {
		more, err := filepath.Glob(filepath.Join(dir, "*.conf"))
		if err != nil {
			return nil, err
		}
		sort.Strings(more)
		files = append(files, more...)
	}
	var errs []error
	for _, f := range files {
		if err := c.loadFile(f); err != nil {
			errs = append(errs, err)
		}
	}
	for _, kv := range env {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(k, "OS_") {
			continue
		}
		if o := envOption(k); o != nil {
			if err := c.set(o, v, "environment "+k); err != nil {
				errs = append(errs, err)
			}
		}
	}
	for k, v := range overrides {
		sec, name, _ := strings.Cut(k, ".")
		o := lookup(sec, name)
		if o == nil {
			errs = append(errs, fmt.Errorf("unknown option %s", k))
			continue
		}
		if err := c.set(o, v, "command line"); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return c, nil
}

// envOption maps OS_<GROUP>__<OPTION> to an option; colons in group names
// are written as underscores (OS_DRIVERS_MESSAGE_STORE_BADGER__FSYNC).
func envOption(k string) *Option {
	group, name, ok := strings.Cut(strings.TrimPrefix(k, "OS_"), "__")
	if !ok {
		return nil
	}
	for i := range Options {
		o := &Options[i]
		g := strings.ToUpper(strings.ReplaceAll(o.Section, ":", "_"))
		if g == strings.ToUpper(group) && strings.EqualFold(o.Name, name) {
			return o
		}
	}
	return nil
}

func (c *Config) loadFile(path string) error {
	f, err := ini.LoadSources(ini.LoadOptions{IgnoreInlineComment: true, AllowPythonMultilineValues: true, Insensitive: false}, path)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	c.Sources = append(c.Sources, path)
	var errs []error
	for _, sec := range f.Sections() {
		name := sec.Name()
		if name == ini.DefaultSection {
			name = "DEFAULT"
		}
		if len(sec.Keys()) == 0 {
			continue
		}
		if foreignSections[name] {
			c.Warnings = append(c.Warnings, fmt.Sprintf("%s: section [%s] belongs to another service; ignored", path, name))
			continue
		}
		if openSections[name] {
			continue
		}
		for _, k := range sec.Keys() {
			o := lookup(name, k.Name())
			if o == nil && sharedSections[name] {
				c.Warnings = append(c.Warnings, fmt.Sprintf("%s: [%s] %s is not used by this server; ignored", path, name, k.Name()))
				continue
			}
			if o == nil {
				errs = append(errs, fmt.Errorf("%s: [%s] %s: unknown option", path, name, k.Name()))
				continue
			}
			if err := c.set(o, unquote(k.Value()), path); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

func unquote(v string) string {
	v = strings.TrimSpace(v)
	if len(v) >= 2 && (v[0] == '"' && v[len(v)-1] == '"' || v[0] == '\'' && v[len(v)-1] == '\'') {
		return v[1 : len(v)-1]
	}
	return v
}

func (c *Config) set(o *Option, v, source string) error {
	v = strings.TrimSpace(v)
	bad := func(why string) error {
		return fmt.Errorf("%s: [%s] %s = %q: %s", source, o.Section, o.Name, v, why)
	}
	switch o.Kind {
	case Int:
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return bad("not an integer")
		}
		if o.Min != nil && n < *o.Min {
			return bad(fmt.Sprintf("must be at least %d", *o.Min))
		}
	case Bool:
		b, ok := parseBool(v)
		if !ok {
			return bad("not a boolean (true/false)")
		}
		v = strconv.FormatBool(b)
	case Duration:
		if _, err := parseDuration(v); err != nil {
			return bad("not a duration (seconds, or e.g. 50ms)")
		}
	}
	if len(o.Choices) > 0 {
		ok := false
		for _, ch := range o.Choices {
			if strings.EqualFold(ch, v) {
				ok, v = true, ch
			}
		}
		if !ok {
			return bad(fmt.Sprintf("must be one of %q", o.Choices))
		}
	}
	c.values[key(o.Section, o.Name)] = v
	return nil
}

func parseBool(v string) (bool, bool) {
	switch strings.ToLower(v) {
	case "true", "1", "yes", "on", "t", "y":
		return true, true
	case "false", "0", "no", "off", "f", "n":
		return false, true
	}
	return false, false
}

func parseDuration(v string) (time.Duration, error) {
	if f, err := strconv.ParseFloat(v, 64); err == nil {
		if f < 0 {
			return 0, errors.New("negative")
		}
		return time.Duration(f * float64(time.Second)), nil
	}
	d, err := time.ParseDuration(v)
	if err == nil && d < 0 {
		return 0, errors.New("negative")
	}
	return d, err
}

// String returns an option's value.
func (c *Config) String(section, name string) string { return c.values[key(section, name)] }

// Int returns an integer option (validated at load).
func (c *Config) Int(section, name string) int64 {
	n, _ := strconv.ParseInt(c.values[key(section, name)], 10, 64)
	return n
}

// Bool returns a boolean option.
func (c *Config) Bool(section, name string) bool {
	b, _ := parseBool(c.values[key(section, name)])
	return b
}

// Duration returns a duration option.
func (c *Config) Duration(section, name string) time.Duration {
	d, _ := parseDuration(c.values[key(section, name)])
	return d
}

// List returns a comma-separated option.
func (c *Config) List(section, name string) []string {
	var out []string
	for _, p := range strings.Split(c.values[key(section, name)], ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// Sample renders a commented zaqar.conf with every option and its default.
func Sample() string {
	var b strings.Builder
	b.WriteString("# zaqar.conf sample: every option with its default (generated by zaqar-server --print-sample-config)\n")
	section := ""
	for _, o := range Options {
		if o.Section != section {
			section = o.Section
			fmt.Fprintf(&b, "\n[%s]\n", section)
		}
		fmt.Fprintf(&b, "\n# %s", o.Help)
		if len(o.Choices) > 0 {
			fmt.Fprintf(&b, " (one of: %s)", strings.Join(o.Choices, ", "))
		}
		fmt.Fprintf(&b, "\n#%s = %s\n", o.Name, o.Default)
	}
	return b.String()
}
