package config

// knownOptions are the options of Zaqar 15's configuration (zaqar/conf)
// and of the OpenStack libraries a Zaqar deployment configures (oslo.log,
// oslo.cache, oslo.policy, oslo.middleware, oslo.reports, osprofiler,
// keystonemiddleware, oslo.messaging), by section, as oslo-config-generator
// lists them for Zaqar. An operator's zaqar.conf may carry any of them:
// those this server implements are in Options and take effect; the others
// are accepted and logged once at start as having no effect here, so the
// original's working file starts this server. Hyphens are written as
// underscores, as oslo.config reads them from files.
var knownOptions = map[string]string{
	"DEFAULT": "admin_mode pooling unreliable enable_deprecated_api_versions enable_checksum auth_strategy " +
		"debug log_config_append log_date_format log_file log_dir watch_log_file use_syslog " +
		"use_journal syslog_log_facility use_json use_stderr use_eventlog log_rotate_interval " +
		"log_rotate_interval_type max_logfile_count max_logfile_size_mb log_rotation_type " +
		"logging_context_format_string logging_default_format_string logging_debug_format_suffix " +
		"logging_exception_prefix logging_user_identity_format default_log_levels publish_errors " +
		"instance_format instance_uuid_format rate_limit_interval rate_limit_burst " +
		"rate_limit_except_level fatal_deprecations transport_url control_exchange " +
		"rpc_response_timeout executor_thread_pool_size",
	"cache": "config_prefix expiration_time backend backend_argument proxies enabled debug_cache_backend " +
		"memcache_servers memcache_dead_retry memcache_socket_timeout memcache_pool_maxsize " +
		"memcache_pool_unused_timeout memcache_pool_connection_get_timeout " +
		"memcache_pool_flush_on_reconnect memcache_sasl_enabled memcache_username memcache_password " +
		"tls_enabled tls_cafile tls_certfile tls_keyfile tls_allowed_ciphers " +
		"enable_socket_keepalive socket_keepalive_idle socket_keepalive_interval " +
		"socket_keepalive_count enable_retry_client retry_attempts retry_delay " +
		"hashclient_retry_attempts hashclient_retry_delay dead_timeout",
	"cors":    "allowed_origin allow_credentials expose_headers max_age allow_methods allow_headers",
	"drivers": "transport message_store management_store",
	"drivers:management_store:mongodb": "ssl_keyfile ssl_certfile ssl_cert_reqs ssl_ca_certs uri database max_attempts " +
		"max_retry_sleep max_retry_jitter max_reconnect_attempts reconnect_sleep",
	"drivers:management_store:redis":      "uri max_reconnect_attempts reconnect_sleep",
	"drivers:management_store:sqlalchemy": "uri",
	"drivers:message_store:mongodb": "ssl_keyfile ssl_certfile ssl_cert_reqs ssl_ca_certs uri database max_attempts " +
		"max_retry_sleep max_retry_jitter max_reconnect_attempts reconnect_sleep partitions",
	"drivers:message_store:redis": "uri max_reconnect_attempts reconnect_sleep",
	"drivers:message_store:swift": "auth_url uri insecure project_domain_id project_domain_name user_domain_id " +
		"user_domain_name region_name interface",
	"drivers:transport:websocket": "bind port external_port notification_bind notification_port",
	"drivers:transport:wsgi":      "bind port",
	"keystone_authtoken": "www_authenticate_uri auth_uri auth_version interface delay_auth_decision " +
		"http_connect_timeout http_request_max_retries cache certfile keyfile cafile insecure " +
		"region_name memcached_servers token_cache_time memcache_security_strategy " +
		"memcache_secret_key memcache_pool_dead_retry memcache_pool_maxsize " +
		"memcache_pool_socket_timeout memcache_pool_unused_timeout memcache_pool_conn_get_timeout " +
		"memcache_use_advanced_pool include_service_catalog enforce_token_bind service_token_roles " +
		"service_token_roles_required service_type auth_type auth_section",
	"notification": "smtp_mode smtp_host smtp_port smtp_user_name smtp_user_password smtp_command " +
		"max_notifier_workers require_confirmation external_confirmation_url " +
		"subscription_confirmation_email_template unsubscribe_confirmation_email_template",
	"oslo_middleware": "enable_proxy_headers_parsing",
	"oslo_policy": "enforce_scope enforce_new_defaults policy_file policy_default_rule policy_dirs " +
		"remote_content_type remote_ssl_verify_server_crt remote_ssl_ca_crt_file " +
		"remote_ssl_client_crt_file remote_ssl_client_key_file",
	"oslo_reports":    "log_dir file_event_handler file_event_handler_interval",
	"pooling:catalog": "enable_virtual_pool",
	"profiler": "trace_wsgi_transport trace_message_store trace_management_store enabled trace_sqlalchemy " +
		"hmac_keys connection_string es_doc_type es_scroll_time es_scroll_size socket_timeout " +
		"sentinel_service_name filter_error_trace",
	"signed_url": "secret_key",
	"storage":    "queue_pipeline message_pipeline claim_pipeline subscription_pipeline topic_pipeline",
	"transport": "default_message_ttl default_message_delay default_claim_ttl default_claim_grace " +
		"default_subscription_ttl max_queues_per_page max_messages_per_page " +
		"max_subscriptions_per_page max_messages_per_claim_or_pop max_queue_metadata " +
		"max_messages_post_size max_message_ttl max_message_delay max_claim_ttl max_claim_grace " +
		"subscriber_types max_flavors_per_page max_pools_per_page client_id_uuid_safe " +
		"min_length_client_id max_length_client_id message_delete_with_claim_id " +
		"message_encryption_algorithms message_encryption_key",
}
