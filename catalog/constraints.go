package catalog

import "github.com/zaqar-go/zaqar/sqldb"

// MySQL's duplicate-key message names the key only; tell sqldb which
// columns this schema's unique keys cover.
func init() {
	sqldb.RegisterConstraint("uq_pools_uri", "uri")
}
