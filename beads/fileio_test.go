package beads

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/gofrs/flock"
	"testing"
)

func TestWriteFileKeepsModeAndReads(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "issues.jsonl")
	f, _ := Parse(path, []byte(`{"id":"a"}`+"\n"), ParseOptions{})
	sha, err := WriteFile(path, f)
	if err != nil {
		t.Fatal(err)
	}
	st, _ := os.Stat(path)
	if st.Mode().Perm() != 0o644 {
		t.Fatalf("new file mode %v", st.Mode())
	}
	if err := os.Chmod(path, 0o600); err != nil {
		t.Fatal(err)
	}
	if sha, err = WriteFile(path, f); err != nil {
		t.Fatal(err)
	}
	st, _ = os.Stat(path)
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("mode not kept: %v", st.Mode())
	}
	g, rsha, err := ReadFile(path)
	if err != nil || rsha != sha || g.Get("a") == nil {
		t.Fatalf("read back: %v %s %s", err, rsha, sha)
	}
	if _, err := os.Stat(filepath.Join(dir, LockName)); err != nil {
		t.Fatalf("lock file: %v", err)
	}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".~") {
			t.Fatalf("temp file left: %s", e.Name())
		}
	}
}

func TestWriteFileFailureLeavesNothing(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root ignores directory permissions")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "issues.jsonl")
	orig := []byte(`{"id":"a"}` + "\n")
	if err := os.WriteFile(path, orig, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, LockName), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o555); err != nil {
		t.Fatal(err)
	}
	defer os.Chmod(dir, 0o755)
	f, _ := Parse(path, []byte(`{"id":"b"}`+"\n"), ParseOptions{})
	_, err := WriteFile(path, f)
	if err == nil || !strings.Contains(err.Error(), "temp file") {
		t.Fatalf("err = %v, want a temp file error", err)
	}
	got, _ := os.ReadFile(path)
	if string(got) != string(orig) {
		t.Fatal("file changed")
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 2 {
		t.Fatalf("dir holds %d entries", len(ents))
	}
	// Reading a read-only directory still works.
	if _, _, err := ReadFile(path); err != nil {
		t.Fatal(err)
	}
}

func TestWriteFileDiskFull(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "issues.jsonl")
	orig := []byte(`{"id":"a"}` + "\n")
	os.WriteFile(path, orig, 0o644)
	saved := writeData
	defer func() { writeData = saved }()
	writeData = func(f *os.File, data []byte) error {
		f.Write(data[:len(data)/2])
		return syscall.ENOSPC
	}
	f, _ := Parse(path, []byte(`{"id":"b","title":"longer"}`+"\n"), ParseOptions{})
	_, err := WriteFile(path, f)
	if !errors.Is(err, syscall.ENOSPC) || !strings.Contains(err.Error(), "write temp file") {
		t.Fatalf("err = %v", err)
	}
	if got, _ := os.ReadFile(path); string(got) != string(orig) {
		t.Fatal("file changed")
	}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if e.Name() != "issues.jsonl" && e.Name() != LockName {
			t.Fatalf("left behind: %s", e.Name())
		}
	}
}

func TestWriteIfUnchanged(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "issues.jsonl")
	os.WriteFile(path, []byte("x\n"), 0o644)
	if _, _, err := writeFile(path, []byte("y\n"), SHA256([]byte("other"))); err == nil {
		t.Fatal("want ErrChanged")
	}
	if _, _, err := writeFile(path, []byte("y\n"), SHA256([]byte("x\n"))); err != nil {
		t.Fatal(err)
	}
}

func TestSHA256(t *testing.T) {
	if SHA256(nil) != "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" {
		t.Fatal(SHA256(nil))
	}
}

func TestLockHeldByAnotherWriter(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "issues.jsonl")
	os.WriteFile(path, []byte(`{"id":"a"}`+"\n"), 0o644)
	held := flock.New(filepath.Join(dir, LockName))
	if err := held.Lock(); err != nil {
		t.Fatal(err)
	}
	defer held.Unlock()
	saved := LockTimeout
	LockTimeout = 100 * time.Millisecond
	defer func() { LockTimeout = saved }()
	f, _ := Parse(path, []byte(`{"id":"b"}`+"\n"), ParseOptions{})
	if _, err := WriteFile(path, f); err == nil || !strings.Contains(err.Error(), "exclusive lock") {
		t.Fatalf("write under a held lock: %v", err)
	}
	if _, _, err := ReadFile(path); err == nil || !strings.Contains(err.Error(), "shared lock") {
		t.Fatalf("read under a held lock: %v", err)
	}
	held.Unlock()
	if _, err := WriteFile(path, f); err != nil {
		t.Fatal(err)
	}
}

func TestWriteRefusesWhenAnotherWriterReplacedTheFileMeanwhile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "issues.jsonl")
	if err := os.WriteFile(path, []byte("{\"id\":\"a-1\"}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	expect := SHA256([]byte("{\"id\":\"a-1\"}\n"))
	theirs := []byte("{\"id\":\"a-1\"}\n{\"id\":\"a-2\"}\n")
	_, _, err := writeFileFrom(path, expect, func(w io.Writer) error {
		// git checkout lands while gtc writes its temp file (git does not take bd's lock)
		if err := os.WriteFile(path+".git", theirs, 0o644); err != nil {
			return err
		}
		if err := os.Rename(path+".git", path); err != nil {
			return err
		}
		_, err := w.Write([]byte("{\"id\":\"a-1\",\"status\":\"closed\"}\n"))
		return err
	})
	if !errors.Is(err, ErrChanged) {
		t.Fatalf("write over a file replaced meanwhile: %v, want ErrChanged", err)
	}
	if got, _ := os.ReadFile(path); string(got) != string(theirs) {
		t.Fatalf("the other writer's file was overwritten: %q", got)
	}
	if left, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".~*")); len(left) != 0 {
		t.Fatalf("temp files left: %v", left)
	}
}
