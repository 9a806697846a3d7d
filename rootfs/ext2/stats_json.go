package ext2

import "encoding/json"

// MarshalJSON writes the statistics in the one JSON style of minidisk's
// --json outputs (docs/cli.md): snake_case keys, the UUID as a string.
func (s Stats) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		BlockSize      int    `json:"block_size"`
		InodeSize      int    `json:"inode_size"`
		Blocks         uint64 `json:"blocks"`
		FreeBlocks     uint64 `json:"free_blocks"`
		ReservedBlocks uint64 `json:"reserved_blocks"`
		Inodes         uint32 `json:"inodes"`
		FreeInodes     uint32 `json:"free_inodes"`
		Groups         int    `json:"groups"`
		BlocksPerGroup uint32 `json:"blocks_per_group"`
		InodesPerGroup uint32 `json:"inodes_per_group"`
		NeededBlocks   uint64 `json:"needed_blocks"`
		NeededInodes   uint32 `json:"needed_inodes"`
		UUID           string `json:"uuid"`
		LargeFile      bool   `json:"large_file"`
	}{s.BlockSize, s.InodeSize, s.Blocks, s.FreeBlocks, s.ReservedBlocks, s.Inodes, s.FreeInodes, s.Groups,
		s.BlocksPerGroup, s.InodesPerGroup, s.NeededBlocks, s.NeededInodes, formatUUID(s.UUID), s.LargeFile})
}
