package classifier

import "errors"

// Model is a trained statistical model. Loaded from models/ by LoadModel.
type Model struct {
	Version string
}

// LoadModel reads a model file.
func LoadModel(path string) (*Model, error) {
	return nil, errors.New("no trained model format yet")
}

func (m *Model) grade(s *scratch, rule int) (int, float64) {
	return rule, rulePHigh[rule]
}
