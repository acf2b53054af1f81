module example.com/pricing

go 1.24.0
