package doctor

import (
	"bytes"
	"testing"
	"testing/fstest"
)

// TestFileContains: a token found at the start, across the 16 KiB piece
// boundary, at the very end, and not found; a missing file is an error.
func TestFileContains(t *testing.T) {
	tok := []byte("splashimage")
	at := func(off int) []byte {
		b := bytes.Repeat([]byte{'.'}, 40000)
		copy(b[off:], tok)
		return b
	}
	fsys := fstest.MapFS{
		"start":  {Data: at(0)},
		"across": {Data: at(16<<10 - 5)},
		"end":    {Data: at(40000 - len(tok))},
		"none":   {Data: bytes.Repeat([]byte("splashimag."), 4000)},
		"empty":  {Data: nil},
	}
	for name, want := range map[string]bool{"start": true, "across": true, "end": true, "none": false, "empty": false} {
		got, err := fileContains(fsys, name, tok)
		if err != nil || got != want {
			t.Errorf("fileContains(%s) = %v, %v; want %v", name, got, err, want)
		}
	}
	if _, err := fileContains(fsys, "missing", tok); err == nil {
		t.Error("fileContains(missing): no error")
	}
}
