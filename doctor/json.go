package doctor

import (
	"encoding/json"
	"fmt"
)

// MarshalJSON writes the MBR type as hex ("83"), as fdisk prints it and as
// every minidisk --json output gives partition types (docs/cli.md).
func (p PartitionInfo) MarshalJSON() ([]byte, error) {
	type plain PartitionInfo
	return json.Marshal(struct {
		plain
		Type string `json:"type"`
	}{plain(p), fmt.Sprintf("%02x", p.Type)})
}
