package main

// Blank imports pin the chosen libraries in go.mod while the packages that use them are written;
// each line goes once a real import of that library exists.
import (
	_ "github.com/gofrs/flock"
	_ "github.com/google/go-cmp/cmp"
	_ "github.com/jmoiron/sqlx"
	_ "github.com/mattn/go-sqlite3"
	_ "github.com/olekukonko/tablewriter"
	_ "github.com/prometheus/client_golang/prometheus"
	_ "github.com/prometheus/client_golang/prometheus/testutil"
	_ "github.com/schollz/progressbar/v3"
	_ "github.com/sourcegraph/jsonrpc2"
	_ "github.com/urfave/cli/v2"
	_ "go.uber.org/goleak"
	_ "pgregory.net/rapid"
)
