package ext2

import (
	"encoding/binary"
	"reflect"
	"testing"

	"github.com/minidisk/minidisk/disk"
)

// fieldHolds reports whether struct field v, decoded from bytes that are
// zero but for pattern at the field's layout offset, holds exactly pattern
// (little-endian numbers, byte arrays, arrays of numbers).
func fieldHolds(v reflect.Value, pattern []byte) bool {
	switch v.Kind() {
	case reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if int(v.Type().Size()) != len(pattern) {
			return false
		}
		var want uint64
		for i := len(pattern) - 1; i >= 0; i-- {
			want = want<<8 | uint64(pattern[i])
		}
		return v.Uint() == want
	case reflect.Array:
		n := int(v.Type().Elem().Size())
		if v.Len()*n != len(pattern) {
			return false
		}
		for i := range v.Len() {
			if !fieldHolds(v.Index(i), pattern[i*n:(i+1)*n]) {
				return false
			}
		}
		return true
	}
	return false
}

// checkLayout writes a distinct pattern at each field of layout in a zero
// buffer of size bytes (plus set, the bytes the parser insists on), decodes
// it with unmarshal and checks that the struct field of the same name holds
// the pattern and every other field is what set alone gives: so each
// exported offset and size is the one the parser uses.
func checkLayout(t *testing.T, name string, layout any, size int, set func([]byte), decode func([]byte) (reflect.Value, error)) {
	t.Helper()
	base := make([]byte, size)
	set(base)
	want, err := decode(base)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	l := reflect.ValueOf(layout)
	for i := range l.NumField() {
		fname := l.Type().Field(i).Name
		f := l.Field(i).Interface().(disk.Field)
		b := make([]byte, size)
		pattern := b[f.Offset : f.Offset+f.Size]
		for j := range pattern {
			pattern[j] = byte(0x11 + j)
		}
		set(b)
		if f.Offset < size && b[f.Offset] != byte(0x11) {
			// set overwrote this field (the magic): its value is checked
			// by decode accepting it.
			continue
		}
		got, err := decode(b)
		if err != nil {
			t.Fatalf("%s.%s: %v", name, fname, err)
		}
		for k := range got.NumField() {
			sf := got.Type().Field(k).Name
			if sf == fname {
				if !fieldHolds(got.Field(k), pattern) {
					t.Errorf("%s.%s at %#x (%d bytes) decodes as %v", name, fname, f.Offset, f.Size, got.Field(k))
				}
			} else if !reflect.DeepEqual(got.Field(k).Interface(), want.Field(k).Interface()) {
				t.Errorf("%s.%s at %#x (%d bytes) changes field %s to %v", name, fname, f.Offset, f.Size, sf, got.Field(k))
			}
		}
		if got.FieldByName(fname) == (reflect.Value{}) {
			t.Errorf("%s.%s: no such field in the decoded struct", name, fname)
		}
	}
}

func TestLayoutsMatchUnmarshal(t *testing.T) {
	checkLayout(t, "SuperblockLayout", SuperblockLayout, SuperblockSize,
		func(b []byte) { binary.LittleEndian.PutUint16(b[SuperblockLayout.Magic.Offset:], Magic) },
		func(b []byte) (reflect.Value, error) {
			var s Superblock
			err := s.Unmarshal(b)
			return reflect.ValueOf(s), err
		})
	checkLayout(t, "GroupDescLayout", GroupDescLayout, GroupDescSize, func([]byte) {},
		func(b []byte) (reflect.Value, error) {
			var g GroupDesc
			err := g.Unmarshal(b)
			return reflect.ValueOf(g), err
		})
	checkLayout(t, "InodeLayout", InodeLayout, GoodOldInodeSize, func([]byte) {},
		func(b []byte) (reflect.Value, error) {
			var in Inode
			err := in.Unmarshal(b)
			return reflect.ValueOf(in), err
		})
}
