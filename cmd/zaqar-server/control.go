package main

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/zaqar-go/zaqar/engine"
)

// The control socket: how `zaqar-server backup` reaches a server running
// on a data directory, whose Badger and logs no other process may open.
//
// It is a Unix socket in a directory of the data directory that only the
// server's user may enter (0700): whoever may use it may read the data
// directory anyway, so it needs no credentials of its own, works whatever
// the API's authentication, and the command finds it from --data-dir
// alone. It serves one request, GET /backup: a backup archive streamed
// as it is made, its outcome in the trailer backupResultHeader.

const (
	controlDir         = "control"
	controlSocket      = "zaqar.sock"
	backupResultHeader = "Zaqar-Backup-Result"
	backupComplete     = "complete"
)

func controlPath(dataDir string) string {
	return filepath.Join(dataDir, controlDir, controlSocket)
}

// serveControl listens on the control socket of the engine's data
// directory until the returned function is called. The server holds the
// directory's lock, so a socket left by a crash is its own to replace.
func serveControl(e *engine.Engine, logger *slog.Logger) (stop func(), err error) {
	dir := filepath.Join(e.Dir(), controlDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return nil, err
	}
	sock := controlPath(e.Dir())
	if err := os.Remove(sock); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	ln, err := net.Listen("unix", sock)
	if err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /backup", func(w http.ResponseWriter, r *http.Request) {
		serveBackup(w, r, e, logger)
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
		defer cancel()
		srv.Shutdown(ctx)
		os.Remove(sock)
	}, nil
}

func serveBackup(w http.ResponseWriter, r *http.Request, e *engine.Engine, logger *slog.Logger) {
	w.Header().Set("Content-Type", "application/gzip")
	w.Header().Set("Trailer", backupResultHeader)
	start := time.Now()
	var paused time.Duration
	files, size, err := writeArchive(w, func(add engine.BackupSink) (err error) {
		paused, err = e.Backup(r.Context(), add)
		return err
	})
	if err != nil {
		logger.Error("backup failed", "err", err)
		w.Header().Set(backupResultHeader, "failed: "+err.Error())
		return
	}
	logger.Info("backup taken", "files", files, "bytes", size, "duration", time.Since(start), "writers_paused", paused)
	w.Header().Set(backupResultHeader, backupComplete)
}

// writeArchive writes a gzipped tar of the files fill adds.
func writeArchive(w io.Writer, fill func(add engine.BackupSink) error) (files int, size int64, err error) {
	zw := gzip.NewWriter(w)
	tw := tar.NewWriter(zw)
	dirs := map[string]bool{}
	now := time.Now()
	err = fill(func(name string, n int64, r io.Reader) error {
		// Parent directories first, so that restore creates them as such.
		var parents []string
		for d := filepath.Dir(filepath.FromSlash(name)); d != "." && !dirs[d]; d = filepath.Dir(d) {
			dirs[d] = true
			parents = append([]string{d}, parents...)
		}
		for _, d := range parents {
			if err := tw.WriteHeader(&tar.Header{Name: filepath.ToSlash(d) + "/", Typeflag: tar.TypeDir, Mode: 0o700, ModTime: now}); err != nil {
				return err
			}
		}
		if err := tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Size: n, Mode: 0o600, ModTime: now}); err != nil {
			return err
		}
		copied, err := io.CopyN(tw, r, n)
		files, size = files+1, size+copied
		return err
	})
	if err != nil {
		return 0, 0, err
	}
	if err := tw.Close(); err != nil {
		return 0, 0, err
	}
	return files, size, zw.Close()
}

// fetchBackup asks the server running on dataDir for a backup and writes
// it to out.
func fetchBackup(dataDir string, out io.Writer) error {
	sock := controlPath(dataDir)
	client := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		},
	}}
	resp, err := client.Get("http://zaqar-server/backup")
	if err != nil {
		return fmt.Errorf("the running server does not answer on %s: %w", sock, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("the running server answered %s", resp.Status)
	}
	if _, err := io.Copy(out, resp.Body); err != nil {
		return fmt.Errorf("reading the backup: %w", err)
	}
	if got := resp.Trailer.Get(backupResultHeader); got != backupComplete {
		if got == "" {
			got = "the stream ended without a result"
		}
		return fmt.Errorf("the server could not complete the backup: %s", got)
	}
	return nil
}
