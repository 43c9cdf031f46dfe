package main

import (
	"context"
	"errors"
	"io"
)

func cmdTrain(ctx context.Context, args []string, env envFunc, stdout, stderr io.Writer) error {
	return errors.New("train: not built yet")
}
