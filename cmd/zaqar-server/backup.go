package main

import (
	"archive/tar"
	"compress/gzip"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/zaqar-go/zaqar/engine"
)

// The backup and restore subcommands of the embedded store.
//
// A backup is a gzipped tar. Of a stopped server it is the data directory
// as the server left it, read while holding the directory's lock so that
// no server opens it meanwhile. Of a running server (the directory is
// locked) the command asks the server through its control socket
// (control.go) and the server streams a copy of one point in time
// (engine.Engine.Backup). Either holds every message, claim,
// subscription and queue, and the partition count; restore unpacks one
// into a new directory, and a server started on it recovers from it.

// runBackup implements `zaqar-server backup --data-dir D --out F`.
func runBackup(args []string, stderr io.Writer) int {
	flags := flag.NewFlagSet("zaqar-server backup", flag.ContinueOnError)
	flags.SetOutput(stderr)
	dir := flags.String("data-dir", "", "data directory of the server, running or stopped ([drivers:message_store:badger] path)")
	out := flags.String("out", "", "backup file to write (gzipped tar); must not exist")
	if code, ok := parseSubcommand(flags, args, stderr); !ok {
		return code
	}
	if *dir == "" || *out == "" {
		fmt.Fprintln(stderr, "zaqar-server backup: --data-dir and --out are required")
		return exitConfig
	}
	running := false
	var fill func(w io.Writer) (files int, size int64, err error)
	unlock, err := engine.LockDir(*dir)
	switch {
	case err == nil:
		defer unlock()
		fill = func(w io.Writer) (int, int64, error) { return archiveDir(*dir, w) }
	case errors.Is(err, engine.ErrInUse):
		running = true
		fill = func(w io.Writer) (int, int64, error) { return 0, 0, fetchBackup(*dir, w) }
	default:
		fmt.Fprintf(stderr, "zaqar-server backup: %v\n", err)
		return exitRuntime
	}
	files, size, err := writeDurably(*out, fill)
	if err != nil {
		fmt.Fprintf(stderr, "zaqar-server backup: %s: %v\n", *dir, err)
		return exitRuntime
	}
	if running {
		fmt.Fprintf(stderr, "zaqar-server backup: %s (running server): %d bytes written to %s\n", *dir, size, *out)
	} else {
		fmt.Fprintf(stderr, "zaqar-server backup: %s: %d files, %d bytes written to %s\n", *dir, files, size, *out)
	}
	return exitOK
}

// runRestore implements `zaqar-server restore --in F --data-dir D`.
func runRestore(args []string, stderr io.Writer) int {
	flags := flag.NewFlagSet("zaqar-server restore", flag.ContinueOnError)
	flags.SetOutput(stderr)
	in := flags.String("in", "", "backup file written by zaqar-server backup")
	dir := flags.String("data-dir", "", "data directory to create (must not exist, or be empty)")
	if code, ok := parseSubcommand(flags, args, stderr); !ok {
		return code
	}
	if *dir == "" || *in == "" {
		fmt.Fprintln(stderr, "zaqar-server restore: --in and --data-dir are required")
		return exitConfig
	}
	files, err := restoreBackup(*in, *dir)
	if err != nil {
		fmt.Fprintf(stderr, "zaqar-server restore: %v\n", err)
		return exitRuntime
	}
	fmt.Fprintf(stderr, "zaqar-server restore: %d files from %s into %s\n", files, *in, *dir)
	return exitOK
}

// parseSubcommand parses a subcommand's flags; ok is false when the
// command is over (help, or an error already reported) with that code.
func parseSubcommand(flags *flag.FlagSet, args []string, stderr io.Writer) (code int, ok bool) {
	if err := flags.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK, false
		}
		return exitConfig, false
	}
	if flags.NArg() > 0 {
		fmt.Fprintf(stderr, "%s: unexpected argument %q\n", flags.Name(), flags.Arg(0))
		return exitConfig, false
	}
	return 0, true
}

// writeDurably writes out with fill: the file appears under its name only
// once complete and synced. size is what fill reports, or else the bytes
// written.
func writeDurably(out string, fill func(w io.Writer) (int, int64, error)) (files int, size int64, err error) {
	tmp := out + ".partial"
	if _, err := os.Stat(out); err == nil {
		return 0, 0, fmt.Errorf("%s exists", out)
	}
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return 0, 0, err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	counted := &countingWriter{w: f}
	if files, size, err = fill(counted); err != nil {
		return 0, 0, err
	}
	if size == 0 {
		size = counted.n
	}
	if err = f.Sync(); err != nil {
		return 0, 0, err
	}
	if err = f.Close(); err != nil {
		return 0, 0, err
	}
	if err = os.Rename(tmp, out); err != nil {
		return 0, 0, err
	}
	return files, size, syncDir(filepath.Dir(out))
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(b []byte) (int, error) {
	n, err := c.w.Write(b)
	c.n += int64(n)
	return n, err
}

// archiveDir writes a gzipped tar of the data directory of a stopped
// server.
func archiveDir(dir string, w io.Writer) (files int, size int64, err error) {
	zw := gzip.NewWriter(w)
	tw := tar.NewWriter(zw)
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil || rel == "." {
			return err
		}
		if rel == controlDir {
			return fs.SkipDir // a running server's socket, nothing to keep
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if !d.IsDir() && !info.Mode().IsRegular() {
			return fmt.Errorf("%s: not a regular file", path)
		}
		hdr, err := tar.FileInfoHeader(info, "")
		if err != nil {
			return err
		}
		hdr.Name = filepath.ToSlash(rel)
		if d.IsDir() {
			hdr.Name += "/"
		}
		hdr.Uname, hdr.Gname = "", ""
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		src, err := os.Open(path)
		if err != nil {
			return err
		}
		defer src.Close()
		// The server is stopped and locked out: the file cannot change.
		n, err := io.CopyN(tw, src, info.Size())
		files, size = files+1, size+n
		return err
	})
	if err != nil {
		return 0, 0, err
	}
	if err = tw.Close(); err != nil {
		return 0, 0, err
	}
	return files, size, zw.Close()
}

// restoreBackup unpacks a backup into dir, which must not exist or be
// empty. Only directories and regular files inside dir are accepted; every
// file and directory is synced before it returns.
func restoreBackup(in, dir string) (files int, err error) {
	if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 {
		return 0, fmt.Errorf("%s is not empty: restore into a new directory", dir)
	}
	f, err := os.Open(in)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return 0, fmt.Errorf("%s: not a backup: %w", in, err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return 0, err
	}
	defer func() {
		if err != nil {
			os.RemoveAll(dir) // nothing half-restored is left to start a server on
		}
	}()
	dirs := []string{dir}
	// The Badger of a running server's backup comes as chunks to load.
	var loader *engine.SnapshotLoader
	defer func() {
		if loader != nil {
			loader.Abort()
		}
	}()
	tr := tar.NewReader(zr)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return 0, fmt.Errorf("%s: %w", in, err)
		}
		name := filepath.FromSlash(strings.TrimSuffix(hdr.Name, "/"))
		if !filepath.IsLocal(name) {
			return 0, fmt.Errorf("%s: entry %q leaves the data directory", in, hdr.Name)
		}
		path := filepath.Join(dir, name)
		if engine.IsSnapshotChunk(hdr.Name) {
			if hdr.Typeflag != tar.TypeReg {
				continue
			}
			if loader == nil {
				if loader, err = engine.NewSnapshotLoader(dir); err != nil {
					return 0, err
				}
			}
			if err := loader.Load(tr); err != nil {
				return 0, fmt.Errorf("%s: %s: %w", in, hdr.Name, err)
			}
			files++
			continue
		}
		switch hdr.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(path, 0o700); err != nil {
				return 0, err
			}
			dirs = append(dirs, path)
		case tar.TypeReg:
			if err := writeFile(path, tr, hdr.Size); err != nil {
				return 0, err
			}
			files++
		default:
			return 0, fmt.Errorf("%s: entry %q is not a file or directory", in, hdr.Name)
		}
	}
	if loader != nil {
		err, loader = loader.Close(), nil
		if err != nil {
			return 0, err
		}
		dirs = append(dirs, filepath.Join(dir, "badger"))
	}
	for i := len(dirs) - 1; i >= 0; i-- {
		if err := syncDir(dirs[i]); err != nil {
			return 0, err
		}
	}
	return files, syncDir(filepath.Dir(dir))
}

func writeFile(path string, r io.Reader, size int64) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.CopyN(f, r, size); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
