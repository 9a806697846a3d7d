package doctor

type menu struct{}

func (d *diag) checkUEFI()     {}
func (d *diag) checkGRUB()     {}
func (d *diag) checkKernel()   {}
func (d *diag) checkUserland() {}
