package explain

import "fmt"

// explainUEFIBoot describes the UEFI chain of a GPT disk.
func (d *Disk) explainUEFIBoot() (*View, error) {
	return nil, fmt.Errorf("%s: a GPT disk; the UEFI chain is not explained yet", d.name)
}
