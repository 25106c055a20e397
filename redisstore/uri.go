package redisstore

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Client defaults of a URI that does not set them.
const (
	// DefaultTimeout bounds dialling Redis and each read and write
	// (socket_timeout overrides the reads and writes).
	DefaultTimeout = 2 * time.Second
	// DefaultPoolSize is the most connections per Redis node.
	DefaultPoolSize = 64
	// DefaultPort is Redis's port, for hosts given without one.
	DefaultPort = "6379"
	// DefaultSentinelPort is Sentinel's, for hosts of a URI with master.
	DefaultSentinelPort = "26379"
)

// ParseURI reads Zaqar's Redis URIs into client options:
//
//	redis://[user:password@]host:port[/db][?dbid=N&socket_timeout=0.1]
//	rediss://...                                  TLS
//	redis://h1:p1,h2:p2?master=mymaster           Sentinel (Zaqar's form)
//	redis://h1:p1,h2:p2[?cluster=true]            Redis Cluster (several hosts without master)
//	redis:///path/to/redis.sock  or  unix:///path/to/redis.sock
func ParseURI(uri string) (*redis.UniversalOptions, error) {
	// Sentinel and Cluster URIs list several host:port pairs, which
	// net/url rejects: parse with a placeholder host, then split the list.
	hosts := ""
	if scheme, rest, ok := strings.Cut(uri, "://"); ok {
		end := strings.IndexAny(rest, "/?")
		if end < 0 {
			end = len(rest)
		}
		authority := rest[:end]
		at := strings.LastIndex(authority, "@")
		hosts = authority[at+1:]
		placeholder := ""
		if hosts != "" {
			placeholder = "placeholder"
		}
		uri = scheme + "://" + authority[:at+1] + placeholder + rest[end:]
	}
	u, err := url.Parse(uri)
	if err != nil {
		return nil, fmt.Errorf("redisstore: %w", err)
	}
	u.Host = hosts
	o := &redis.UniversalOptions{
		DialTimeout: DefaultTimeout, ReadTimeout: DefaultTimeout, WriteTimeout: DefaultTimeout,
		MaxRetries: 1, PoolSize: DefaultPoolSize, DialerRetries: 1,
	}
	switch strings.ToLower(u.Scheme) {
	case "redis", "unix":
	case "rediss":
		host, _, _ := strings.Cut(hosts, ",")
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		o.TLSConfig = &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
	default:
		return nil, fmt.Errorf("redisstore: unsupported scheme %q (want redis, rediss or unix)", u.Scheme)
	}
	o.Username = u.User.Username()
	o.Password, _ = u.User.Password()
	q := u.Query()
	if u.Host == "" {
		if u.Path == "" {
			return nil, fmt.Errorf("redisstore: %q names no host or socket", uri)
		}
		o.Addrs = []string{u.Path}
		o.Dialer = func(ctx context.Context, _, addr string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", addr)
		}
	} else {
		port := DefaultPort
		if q.Get("master") != "" {
			port = DefaultSentinelPort // the hosts are Sentinels
		}
		for _, h := range strings.Split(u.Host, ",") {
			if _, _, err := net.SplitHostPort(h); err != nil {
				h = net.JoinHostPort(strings.Trim(h, "[]"), port)
			}
			o.Addrs = append(o.Addrs, h)
		}
		if db := strings.Trim(u.Path, "/"); db != "" {
			n, err := strconv.Atoi(db)
			if err != nil {
				return nil, fmt.Errorf("redisstore: database %q is not a number", db)
			}
			o.DB = n
		}
	}
	if v := q.Get("dbid"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return nil, fmt.Errorf("redisstore: dbid=%q is not a number", v)
		}
		o.DB = n
	}
	if v := q.Get("socket_timeout"); v != "" {
		secs, err := strconv.ParseFloat(v, 64)
		if err != nil || secs <= 0 {
			return nil, fmt.Errorf("redisstore: socket_timeout=%q is not a positive number of seconds", v)
		}
		d := time.Duration(secs * float64(time.Second))
		o.ReadTimeout, o.WriteTimeout = d, d
	}
	o.MasterName = q.Get("master")
	if q.Get("cluster") == "true" {
		if o.MasterName != "" {
			return nil, fmt.Errorf("redisstore: master (Sentinel) and cluster=true exclude each other")
		}
		o.IsClusterMode = true
	}
	return o, nil
}
