/**
 * The one error configuration loading raises: it names the variable, the value and what is
 * allowed (secrets are never echoed).
 *
 * @module
 */

/**
 * A configuration value is invalid. The message names the variable, the value and what is
 * allowed (secrets are never echoed).
 */
export class ConfigError extends Error {
  /** The environment variable at fault. */
  readonly variable: string;

  /**
   * Create the error.
   *
   * @param variable The environment variable at fault.
   * @param message What is wrong and what is allowed.
   * @param options Keeps `cause`.
   */
  constructor(variable: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ConfigError";
    this.variable = variable;
  }
}
