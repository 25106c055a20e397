package main

import (
	_ "github.com/HdrHistogram/hdrhistogram-go"
	_ "github.com/bytedance/sonic"
	_ "github.com/dgraph-io/badger/v4"
	_ "github.com/fasthttp/router"
	_ "github.com/go-sql-driver/mysql"
	_ "github.com/google/go-cmp/cmp"
	_ "github.com/google/uuid"
	_ "github.com/jackc/pgx/v5/stdlib"
	_ "github.com/klauspost/compress/s2"
	_ "github.com/pressly/goose/v3"
	_ "github.com/prometheus/client_golang/prometheus/promhttp"
	_ "github.com/redis/go-redis/v9"
	_ "github.com/valyala/fasthttp"
	_ "gopkg.in/ini.v1"
	_ "modernc.org/sqlite"
	_ "gonum.org/v1/plot"
	_ "github.com/emersion/go-smtp"
	_ "github.com/wneessen/go-mail"
)

func main() {}
