package main

import "testing"

func TestClassify(t *testing.T) {}
func TestOpen(t *testing.T)     {}
func Testify(t *testing.T)      {}
func helper(t *testing.T)       {}
