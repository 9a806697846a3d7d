package doctor

func (d *diag) checkUEFI() {}
