module greeting

go 1.22
