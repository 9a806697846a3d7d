package ext2

import "fmt"

// Inline data (INCOMPAT_INLINE_DATA, fs/ext4/inline.c): a small file's or
// directory's bytes live in the inode: the 60 bytes of i_block first, the
// rest in the value of the in-inode extended attribute "system.data".
// An inline directory's i_block starts with the parent's inode number (4
// bytes, in place of "." and ".."), then directory entries fill the other
// 56 bytes; the attribute value holds more entries.
const (
	xattrMagic       = 0xEA020000 // h_magic of the in-inode xattr area
	xattrEntryHeader = 16         // e_name_len, e_name_index, e_value_offs, e_value_inum, e_value_size, e_hash
	xattrIndexSystem = 7          // EXT4_XATTR_INDEX_SYSTEM
	inlineDirParent  = 4          // EXT4_INLINE_DOTDOT_SIZE
)

// inlineData returns the inline bytes of inode ino: i_block followed by
// the system.data value (empty when the attribute is absent).
func (r *Reader) inlineData(ino uint32, in *Inode) ([]byte, error) {
	out := make([]byte, NBlocks*4, NBlocks*4+r.isz)
	for i, v := range in.Block {
		le.PutUint32(out[4*i:], v)
	}
	raw, err := r.inodeSlot(ino)
	if err != nil {
		return nil, err
	}
	bad := func(format string, a ...any) error {
		return fmt.Errorf("ext2: inode %d inline data: %s: %w", ino, fmt.Sprintf(format, a...), ErrCorrupt)
	}
	start := GoodOldInodeSize + int(in.ExtraIsize)
	if start+4 > len(raw) || le.Uint32(raw[start:]) != xattrMagic {
		return out, nil
	}
	area := raw[start+4:] // e_value_offs counts from here
	for off := 0; off+4 <= len(area) && le.Uint32(area[off:]) != 0; {
		if off+xattrEntryHeader > len(area) {
			return nil, bad("attribute entry at %d runs past the inode", off)
		}
		e := area[off:]
		nameLen := int(e[0])
		next := off + (xattrEntryHeader+nameLen+3)&^3
		if off+xattrEntryHeader+nameLen > len(area) {
			return nil, bad("attribute name at %d runs past the inode", off)
		}
		name := string(e[xattrEntryHeader : xattrEntryHeader+nameLen])
		if e[1] == xattrIndexSystem && name == "data" {
			voff, vsize := int(le.Uint16(e[2:])), int(le.Uint32(e[8:]))
			if le.Uint32(e[4:]) != 0 {
				return nil, bad("system.data stored in an EA inode")
			}
			if voff > len(area) || vsize > len(area)-voff {
				return nil, bad("system.data value %d+%d runs past the inode", voff, vsize)
			}
			return append(out, area[voff:voff+vsize]...), nil
		}
		off = next
	}
	return out, nil
}

// inlineDirents parses an inline directory's entries: the 56 bytes after
// the parent pointer in i_block, then the attribute value, each parsed as
// its own run of records.
func (r *Reader) inlineDirents(ino uint32, in *Inode, add func(d DirEntry) error) error {
	data, err := r.inlineData(ino, in)
	if err != nil {
		return err
	}
	for _, region := range [][]byte{data[inlineDirParent : NBlocks*4], data[NBlocks*4:]} {
		for off := 0; off < len(region); {
			d, err := UnmarshalDirEntry(region[off:])
			if err != nil {
				return fmt.Errorf("ext2: inline directory inode %d offset %d: %w: %w", ino, off, err, ErrCorrupt)
			}
			off += int(d.RecLen)
			if err := add(d); err != nil {
				return err
			}
		}
	}
	return nil
}
