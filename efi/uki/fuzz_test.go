package uki

import (
	"bytes"
	"io"
	"os"
	"testing"
)

// FuzzParse feeds hostile bytes to the parser doctor runs on images it did
// not make: Parse, every section's Open and ReadSection, StubVersion, and
// InspectKernel must return errors, never panic, and never hand out a
// reader past the end of the input.
func FuzzParse(f *testing.F) {
	f.Add(makeStub(f, stubSpec{machine: MachineAMD64, subsystem: 10, sdmagic: true}))
	f.Add(makeStub(f, stubSpec{machine: 0xaa64, subsystem: 10, sdmagic: true, sizeOfHeaders: 0x200}))
	kb, _ := os.ReadFile(fakeKernel(f, 0x2000, 2047))
	f.Add(kb)
	// One of our own UKIs, small.
	var buf bytes.Buffer
	stub := writeTemp(f, "s.efi", makeStub(f, stubSpec{machine: MachineAMD64, subsystem: 10, sdmagic: true}))
	out := writeTemp(f, "u.efi", nil)
	if w, err := os.OpenFile(out, os.O_RDWR, 0); err == nil {
		if _, err := Write(w, Options{Stub: stub, Kernel: writeTemp(f, "k", kb), Cmdline: "console=ttyS0"}); err != nil {
			f.Fatal(err)
		}
		w.Close()
		b, _ := os.ReadFile(out)
		buf.Write(b)
		f.Add(buf.Bytes())
	}
	f.Add([]byte("MZ"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bytes.NewReader(data)
		if pf, err := Parse(r, int64(len(data))); err == nil {
			for _, s := range pf.Sections {
				sr, err := pf.Open(s)
				if err != nil {
					continue
				}
				if s.Size() > 0 && int64(s.Offset)+sr.Size() > int64(len(data)) {
					t.Fatalf("section %s reader runs past the input", s.Name)
				}
				io.Copy(io.Discard, sr)
			}
			pf.ReadSection(".cmdline", 4096)
			pf.StubVersion()
			pf.IsUKI()
			CheckStub(pf)
		}
		InspectKernel(r, int64(len(data)))
	})
}
