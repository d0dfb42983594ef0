package dev.nnc.cli;

import picocli.CommandLine;

/** picocli converter for counts that must be at least 1 (--batch, --epochs, --threads, …). */
final class Positive implements CommandLine.ITypeConverter<Integer> {
  @Override
  public Integer convert(String value) {
    int v;
    try {
      v = Integer.parseInt(value.trim());
    } catch (NumberFormatException e) {
      throw new CommandLine.TypeConversionException("'" + value + "' is not a whole number");
    }
    if (v < 1) {
      throw new CommandLine.TypeConversionException("must be at least 1, got " + value);
    }
    return v;
  }
}
