// Placeholder: built by its own task.
export function Admin() {
  return <main className="p-6">Admin</main>;
}
