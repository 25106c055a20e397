package sqldb

import "testing"

// FuzzParseURI: no management store URI makes parsing panic; accepted
// ones name a dialect and a connector.
func FuzzParseURI(f *testing.F) {
	for _, s := range []string{"sqlite://", "sqlite:////tmp/x.db", "mysql+pymysql://u:p@h:1/db?charset=utf8&sql_mode=ANSI",
		"postgresql://u@h/db?sslmode=disable", "mysql://h/db?connect_timeout=x", "postgres://%zz"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, uri string) {
		tg, err := parseURI(uri, DefaultOptions())
		if err == nil && (tg.connector == nil || tg.dialect == "") {
			t.Fatalf("%q accepted without a connector", uri)
		}
	})
}
